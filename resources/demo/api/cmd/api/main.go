// The demo team's api component: a tiny HTTP service.
package main

import (
	"fmt"
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the shop api")
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// iterdeck-agent: the in-container end of Iterdeck's file sync.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv)
{
    CLI::App cli{"iterdeck-agent: the in-container end of Iterdeck's file sync.\n"
                 "This version has no sync protocol yet; it only reports its version.",
                 "iterdeck-agent"};
    cli.set_version_flag("--version", std::string("iterdeck-agent ") + ITERDECK_VERSION, "Print the version and exit");
    cli.set_help_flag("-h,--help", "Print this help and exit");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        if (e.get_exit_code() == 0)
            return cli.exit(e);
        std::cerr << "iterdeck-agent: " << e.what() << "\nRun with --help for usage.\n";
        return 2;
    }
    std::cerr << "iterdeck-agent: nothing to do: this version only answers --version and --help\n";
    return 2;
}

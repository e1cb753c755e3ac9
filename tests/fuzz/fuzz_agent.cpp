// Arbitrary bytes as the frames a source sends to the agent. The replica must answer or
// refuse, never crash, hang, or write outside its root (a sibling folder is checked).
#include "sync/replica.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string g_base;

bool isEmptyDir(const std::string &path)
{
    DIR *d = ::opendir(path.c_str());
    if (!d)
        return false;
    int n = 0;
    while (dirent *e = ::readdir(d))
        n += (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ? 1 : 0;
    ::closedir(d);
    return n == 0;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    char tmpl[] = "/tmp/iterdeck-fuzz-agent-XXXXXX";
    g_base = ::mkdtemp(tmpl);
    ::mkdir((g_base + "/root").c_str(), 0755);
    ::mkdir((g_base + "/outside").c_str(), 0755);
    ::symlink((g_base + "/outside").c_str(), (g_base + "/root/evil").c_str());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 60000)
        return 0;
    int in[2];
    if (::pipe(in) != 0)
        return 0;
    // Every input starts with a valid Hello, so the fuzzer explores what comes after.
    iterdeck::sync::FrameWriter hello(iterdeck::sync::MsgType::Hello);
    hello.u32(iterdeck::sync::kMagic).u16(iterdeck::sync::kProtocolVersion).u32(0).str("fuzz");
    const auto &h = hello.finish();
    (void)!::write(in[1], h.data(), h.size());
    (void)!::write(in[1], data, size);
    ::close(in[1]);
    const int out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    {
        iterdeck::sync::FsError err;
        auto root = iterdeck::sync::SafeRoot::open(g_base + "/root", &err);
        iterdeck::sync::Channel ch(in[0], out);
        iterdeck::sync::Replica replica(*root);
        replica.serve(ch, [](const std::string &) {});
    }
    ::close(in[0]);
    ::close(out);
    if (!isEmptyDir(g_base + "/outside"))
        __builtin_trap();
    return 0;
}

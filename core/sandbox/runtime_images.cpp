// The sandbox's image catalog: image reference -> root directory template and defaults.
#include "sandbox/runtime_p.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace iterdeck::sandbox {

namespace {

// "nginx" -> "nginx:latest"; "docker.io/library/x:1" -> "x:1"; digests are kept.
std::string normalizeReference(std::string ref)
{
    for (const char *prefix : {"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"}) {
        const std::string p = prefix;
        if (ref.rfind(p, 0) == 0 && ref.size() > p.size()) {
            ref = ref.substr(p.size());
            break;
        }
    }
    const auto slash = ref.rfind('/');
    const std::string last = slash == std::string::npos ? ref : ref.substr(slash + 1);
    if (last.find(':') == std::string::npos && last.find('@') == std::string::npos)
        ref += ":latest";
    return ref;
}

std::string position(const std::string &file, const YAML::Mark &mark)
{
    if (mark.is_null())
        return file + ":1:1";
    return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

struct CatalogError
{
    std::string message;
};

std::vector<std::string> stringList(const YAML::Node &node, const std::string &file, const char *field)
{
    std::vector<std::string> out;
    if (!node)
        return out;
    if (node.IsScalar()) {
        out.push_back(node.as<std::string>());
        return out;
    }
    if (!node.IsSequence())
        throw CatalogError {position(file, node.Mark()) + ": " + field + " must be a list of strings"};
    for (const auto &item : node) {
        if (!item.IsScalar())
            throw CatalogError {position(file, item.Mark()) + ": " + field + " must be a list of strings"};
        out.push_back(item.as<std::string>());
    }
    return out;
}

ImageEntry parseEntry(const YAML::Node &node, std::string reference, const std::string &file, const fs::path &base)
{
    if (!node.IsMap())
        throw CatalogError {position(file, node.Mark()) + ": an image entry must be a map"};
    ImageEntry e;
    if (reference.empty()) {
        const auto ref = node["reference"] ? node["reference"] : node["image"];
        if (!ref || !ref.IsScalar() || ref.as<std::string>().empty())
            throw CatalogError {position(file, node.Mark()) + ": image entry without a reference"};
        reference = ref.as<std::string>();
    }
    e.reference = normalizeReference(reference);
    for (const auto &it : node) {
        const std::string key = it.first.as<std::string>();
        if (key != "reference" && key != "image" && key != "root" && key != "rootTemplate" && key != "command"
            && key != "args" && key != "env" && key != "workingDir")
            throw CatalogError {position(file, it.first.Mark()) + ": unknown field \"" + key + "\""};
    }
    const auto root = node["root"] ? node["root"] : node["rootTemplate"];
    if (root) {
        if (!root.IsScalar())
            throw CatalogError {position(file, root.Mark()) + ": root must be a directory path"};
        fs::path dir = root.as<std::string>();
        if (dir.is_relative())
            dir = base / dir;
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
            throw CatalogError {position(file, root.Mark()) + ": root directory " + dir.string() + " does not exist"};
        e.rootTemplate = fs::weakly_canonical(dir, ec).string();
    }
    e.command = stringList(node["command"], file, "command");
    e.args = stringList(node["args"], file, "args");
    if (const auto env = node["env"]) {
        if (env.IsMap()) {
            for (const auto &it : env)
                e.env.emplace_back(it.first.as<std::string>(),
                                   it.second.IsNull() ? std::string() : it.second.as<std::string>());
        } else if (env.IsSequence()) {
            for (const auto &item : env) {
                if (!item.IsMap() || !item["name"])
                    throw CatalogError {position(file, item.Mark()) + ": env entries need a name"};
                e.env.emplace_back(item["name"].as<std::string>(),
                                   item["value"] ? item["value"].as<std::string>() : std::string());
            }
        } else {
            throw CatalogError {position(file, env.Mark()) + ": env must be a map or a list"};
        }
    }
    if (const auto wd = node["workingDir"])
        e.workingDir = wd.as<std::string>();
    return e;
}

bool loadInto(ImageCatalog &catalog, const std::string &path, std::string *error)
{
    try {
        const YAML::Node doc = YAML::LoadFile(path);
        const fs::path base = fs::path(path).parent_path();
        YAML::Node images = doc;
        if (doc.IsMap() && doc["images"])
            images = doc["images"];
        if (images.IsNull())
            return true;
        std::vector<ImageEntry> added;
        if (images.IsSequence()) {
            for (const auto &item : images)
                added.push_back(parseEntry(item, {}, path, base));
        } else if (images.IsMap()) {
            for (const auto &it : images)
                added.push_back(parseEntry(it.second, it.first.as<std::string>(), path, base));
        } else {
            throw CatalogError {position(path, images.Mark()) + ": expected a list or a map of images"};
        }
        for (auto &e : added) {
            std::erase_if(catalog.entries, [&](const ImageEntry &old) { return old.reference == e.reference; });
            catalog.entries.push_back(std::move(e));
        }
        return true;
    } catch (const CatalogError &e) {
        *error = e.message;
    } catch (const YAML::BadFile &) {
        *error = path + ":1:1: cannot read the file";
    } catch (const YAML::Exception &e) {
        *error = position(path, e.mark) + ": " + e.msg;
    }
    return false;
}

std::string executableDir()
{
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return {};
    return fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path().string();
}

} // namespace

ImageCatalog ImageCatalog::builtIn()
{
    static const ImageCatalog catalog = [] {
        ImageCatalog c;
        ImageEntry base;
        base.reference = "iterdeck/sandbox-base:latest";
        c.entries.push_back(base);
        std::vector<std::string> dirs;
#ifdef ITERDECK_SANDBOX_RESOURCES_DIR
        dirs.emplace_back(ITERDECK_SANDBOX_RESOURCES_DIR);
#endif
        if (const auto exe = executableDir(); !exe.empty())
            dirs.push_back(exe + "/../share/iterdeck/sandbox");
        for (const auto &dir : dirs) {
            const std::string file = dir + "/images.yaml";
            std::error_code ec;
            if (!fs::exists(file, ec))
                continue;
            std::string error;
            if (!loadInto(c, file, &error))
                std::cerr << "iterdeck sandbox: built-in image catalog: " << error << '\n';
            break;
        }
        return c;
    }();
    return catalog;
}

std::optional<ImageCatalog> ImageCatalog::load(const std::string &path, std::string *error)
{
    ImageCatalog catalog = builtIn();
    std::string message;
    if (!loadInto(catalog, path, &message)) {
        if (error)
            *error = message;
        return std::nullopt;
    }
    return catalog;
}

const ImageEntry *ImageCatalog::find(const std::string &reference) const
{
    if (reference.empty())
        return nullptr;
    const std::string wanted = normalizeReference(reference);
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        if (normalizeReference(it->reference) == wanted)
            return &*it;
    }
    return nullptr;
}

} // namespace iterdeck::sandbox

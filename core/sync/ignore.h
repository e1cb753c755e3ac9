#pragma once

// Which paths of a synced tree are synced. Plain C++20, no Qt: the agent links this.
//
// Paths are relative to the sync root, '/'-separated, without a leading or trailing
// slash, and never empty ("." is not asked). A directory that is ignored is not
// descended into: nothing below it is synced, whatever later rules say (git's rule).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace iterdeck::sync {

class IgnoreRules
{
public:
    virtual ~IgnoreRules() = default;
    // True when `relPath` (a directory when `isDir`) must not be synced.
    virtual bool isIgnored(std::string_view relPath, bool isDir) const = 0;
    // A file the rules are read from changed (e.g. a .gitignore): forget what was cached for it.
    // `relPath` is the changed file's path. Rules that read no files ignore the call.
    virtual void invalidate(std::string_view relPath) { (void)relPath; }
    // True when `relPath` is a file the rules read (a change to it can change the answers).
    virtual bool isRulesFile(std::string_view relPath) const
    {
        (void)relPath;
        return false;
    }
    // True when the answers depend on the path alone (the rules read no files), so that the same
    // settings give the same answers for the same paths at any time.
    virtual bool pathsAlone() const { return false; }
};

// Nocalhost's `pattern` mode: `filePattern` and `ignoreFilePattern` are translated into
// syncthing .stignore lines exactly as Nocalhost does (ignore lines first; then "!" + each
// file pattern, with "." → "**" and "./x" → "/x"; then a final "**"; with no file patterns
// "!**"), and matched with syncthing's .stignore semantics (first matching line wins;
// "*", "**", "?", "[...]", "{a,b}", "(?i)", a leading "/" anchors at the root, a pattern
// without "/" matches a name at any depth, a match on a directory covers its contents).
// `.git` (at any depth) is ignored unless `syncGit`. On a malformed pattern returns
// nullptr and sets `error` ("ignoreFilePattern "[a": unterminated character class").
std::unique_ptr<IgnoreRules> makePatternRules(const std::vector<std::string> &filePatterns,
                                              const std::vector<std::string> &ignoreFilePatterns, bool syncGit,
                                              std::string *error);

// Nocalhost's `gitIgnore` mode, as git itself decides (`git check-ignore` is the oracle in
// the tests): the .gitignore file of every directory (read lazily from disk, cached until
// invalidate()), `.git/info/exclude` of the root repository, with git's precedence and
// syntax (negation, trailing "/", leading and inner "/", "**", escapes, trailing spaces).
// `.git` is ignored unless `syncGit`. `root` is the absolute path of the local tree.
std::unique_ptr<IgnoreRules> makeGitIgnoreRules(const std::string &root, bool syncGit);

// The .stignore lines Nocalhost would generate, for display and tests.
std::vector<std::string> nocalhostIgnoreLines(const std::vector<std::string> &filePatterns,
                                              const std::vector<std::string> &ignoreFilePatterns);

} // namespace iterdeck::sync

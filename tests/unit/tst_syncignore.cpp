// Which paths are synced: Nocalhost's `pattern` mode against syncthing's documented .stignore
// semantics, and `gitIgnore` mode against the real `git check-ignore` on real trees.
#include "sync/ignore.h"

#include "testutil/testutil.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

using namespace iterdeck;

namespace {

std::vector<std::string> toStd(const QStringList &list)
{
    std::vector<std::string> out;
    out.reserve(std::size_t(list.size()));
    for (const QString &s : list)
        out.push_back(s.toStdString());
    return out;
}

QStringList toQt(const std::vector<std::string> &list)
{
    QStringList out;
    for (const std::string &s : list)
        out.append(QString::fromStdString(s));
    return out;
}

QStringList list(std::initializer_list<const char *> items)
{
    QStringList out;
    for (const char *item : items)
        out.append(QString::fromUtf8(item));
    return out;
}

// A real tree with .gitignore files, checked by `git check-ignore` in a fresh repository.
class GitTree
{
public:
    bool isValid() const { return m_dir.isValid(); }
    QString root() const { return m_dir.path(); }

    // `rulesFiles` alternates a path and its content; `paths` ending in '/' are directories.
    bool create(const QStringList &rulesFiles, const QStringList &paths)
    {
        if (!git({QStringLiteral("init"), QStringLiteral("-q")}, {}))
            return false;
        for (const QString &path : paths) {
            if (path.endsWith(u'/')) {
                if (!QDir(root()).mkpath(path))
                    return false;
            } else if (!write(path, {})) {
                return false;
            }
        }
        for (qsizetype i = 0; i + 1 < rulesFiles.size(); i += 2) {
            if (!write(rulesFiles[i], rulesFiles[i + 1].toUtf8()))
                return false;
        }
        return true;
    }

    bool write(const QString &path, const QByteArray &content)
    {
        QDir(root()).mkpath(QFileInfo(path).path());
        QFile file(root() + u'/' + path);
        return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(content) == content.size();
    }

    // Every file and directory of the tree except .git, with whether it is a directory.
    QList<std::pair<QString, bool>> entries() const
    {
        QList<std::pair<QString, bool>> out;
        const QDir base(root());
        QDirIterator it(root(), QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QString path = base.relativeFilePath(it.next());
            if (path == u".git" || path.startsWith(u".git/"))
                continue;
            out.append({path, it.fileInfo().isDir()});
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // The paths git says are ignored (`git check-ignore --no-index --stdin -z`).
    std::optional<QSet<QString>> gitIgnored(const QStringList &paths) const
    {
        QByteArray input;
        for (const QString &path : paths)
            input += path.toUtf8() + '\0';
        QByteArray output;
        if (!git({QStringLiteral("check-ignore"), QStringLiteral("--no-index"), QStringLiteral("--stdin"),
                  QStringLiteral("-z")},
                 input, &output))
            return std::nullopt;
        QSet<QString> ignored;
        for (const QByteArray &path : output.split('\0')) {
            if (!path.isEmpty())
                ignored.insert(QString::fromUtf8(path));
        }
        return ignored;
    }

private:
    bool git(const QStringList &args, const QByteArray &input, QByteArray *output = nullptr) const
    {
        QProcess process;
        // No user or system configuration: no global excludes file can leak into the answers.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("HOME"), root());
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), root() + u"/.git/xdg");
        env.insert(QStringLiteral("GIT_CONFIG_NOSYSTEM"), QStringLiteral("1"));
        env.insert(QStringLiteral("GIT_CONFIG_GLOBAL"), QStringLiteral("/dev/null"));
        process.setProcessEnvironment(env);
        process.setWorkingDirectory(root());
        process.start(QStringLiteral("git"), args);
        if (!process.waitForStarted())
            return false;
        process.write(input);
        process.closeWriteChannel();
        if (!process.waitForFinished(60000))
            return false;
        // check-ignore: 0 = some path ignored, 1 = none.
        if (process.exitStatus() != QProcess::NormalExit || process.exitCode() > 1) {
            qWarning("git %s: %s", qPrintable(args.join(u' ')), process.readAllStandardError().constData());
            return false;
        }
        if (output)
            *output = process.readAllStandardOutput();
        return true;
    }

    QTemporaryDir m_dir;
};

// Compares the rules with git for every entry of the tree; returns the disagreements.
QStringList compareWithGit(const GitTree &tree, const sync::IgnoreRules &rules, int *checks)
{
    const auto entries = tree.entries();
    QStringList paths;
    for (const auto &entry : entries)
        paths.append(entry.first);
    const auto ignored = tree.gitIgnored(paths);
    if (!ignored)
        return {QStringLiteral("git check-ignore failed")};
    QStringList mismatches;
    for (const auto &[path, isDir] : entries) {
        const bool ours = rules.isIgnored(path.toStdString(), isDir);
        const bool git = ignored->contains(path);
        ++*checks;
        if (ours != git)
            mismatches.append(QStringLiteral("%1%2: git says %3, we say %4")
                                  .arg(path, isDir ? QStringLiteral("/") : QString(),
                                       git ? QStringLiteral("ignored") : QStringLiteral("synced"),
                                       ours ? QStringLiteral("ignored") : QStringLiteral("synced")));
    }
    return mismatches;
}

QString describeRules(const QStringList &rulesFiles)
{
    QString out;
    for (qsizetype i = 0; i + 1 < rulesFiles.size(); i += 2)
        out += u"\n--- " + rulesFiles[i] + u'\n' + rulesFiles[i + 1];
    return out;
}

// A pattern list of a Nocalhost config: `key:` followed by an inline "[...]" or "- item" lines.
struct FixturePatterns
{
    QString file;
    QString key;
    QStringList patterns;
};

QList<FixturePatterns> readFixturePatterns()
{
    QList<FixturePatterns> out;
    const QString dir = test::fixturesDir() + u"/nocalhost-configs/current";
    QDirIterator it(dir, {QStringLiteral("config*.yaml")}, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    QStringList files;
    while (it.hasNext())
        files.append(it.next());
    files.sort();
    static const QRegularExpression keyLine(
        QStringLiteral(R"(^\s*(filePattern|ignoreFilePattern|syncFilePattern):\s*(.*?)\s*$)"));
    static const QRegularExpression itemLine(QStringLiteral(R"(^\s*-\s*(.*?)\s*$)"));
    auto unquote = [](QString s) {
        s = s.trimmed();
        if (s.size() >= 2 && (s.front() == u'"' || s.front() == u'\'') && s.back() == s.front())
            s = s.mid(1, s.size() - 2);
        return s;
    };
    for (const QString &file : files) {
        const QStringList lines = QString::fromUtf8(test::readFile(file)).split(u'\n');
        for (qsizetype i = 0; i < lines.size(); ++i) {
            const auto match = keyLine.match(lines[i]);
            if (!match.hasMatch())
                continue;
            FixturePatterns entry {file.mid(dir.size() + 1), match.captured(1), {}};
            const qsizetype keyIndent = match.capturedStart(1);
            const QString rest = match.captured(2);
            if (rest.startsWith(u'[')) {
                const QString inner = rest.mid(1, rest.lastIndexOf(u']') - 1);
                for (const QString &item : inner.split(u',', Qt::SkipEmptyParts)) {
                    if (!item.trimmed().isEmpty())
                        entry.patterns.append(unquote(item));
                }
            } else {
                for (qsizetype j = i + 1; j < lines.size(); ++j) {
                    const auto item = itemLine.match(lines[j]);
                    if (!item.hasMatch() || lines[j].indexOf(u'-') < keyIndent)
                        break;
                    entry.patterns.append(unquote(item.captured(1)));
                }
            }
            out.append(entry);
        }
    }
    return out;
}

} // namespace

class TestSyncIgnore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void nocalhostLines_data()
    {
        QTest::addColumn<QStringList>("filePatterns");
        QTest::addColumn<QStringList>("ignoreFilePatterns");
        QTest::addColumn<QStringList>("lines");
        QTest::newRow("nocalhost/nocalhost api") << list({"."}) << list({"./build"}) << list({"/build", "!**", "**"});
        QTest::newRow("dot and .git") << list({"."}) << list({".git", "./build"})
                                      << list({".git", "/build", "!**", "**"});
        QTest::newRow("nothing") << QStringList() << QStringList() << list({"!**", "**"});
        QTest::newRow("horizon: ignores only")
            << QStringList() << list({"./build", "./chart", "./db"}) << list({"/build", "/chart", "/db", "!**", "**"});
        QTest::newRow("dot slash") << list({"./"}) << list({".git"}) << list({".git", "!/", "**"});
        QTest::newRow("single file") << list({"target/springboot-sample-demo.jar"}) << list({".git"})
                                     << list({".git", "!target/springboot-sample-demo.jar", "**"});
        QTest::newRow("schema default trap") << list({"."}) << list({"."}) << list({"**", "!**", "**"});
        QTest::newRow("several") << list({"./src/main.go", "go.mod"}) << list({".idea/", "./docs/"})
                                 << list({".idea/", "/docs/", "!/src/main.go", "!go.mod", "**"});
        QTest::newRow("dot inside kept") << list({"./.", ".x", "a/./b"}) << list({"..", "./"})
                                         << list({"..", "/", "!/.", "!.x", "!a/./b", "**"});
        QTest::newRow("empty strings kept") << list({""}) << list({""}) << list({"", "!", "**"});
    }
    void nocalhostLines()
    {
        QFETCH(QStringList, filePatterns);
        QFETCH(QStringList, ignoreFilePatterns);
        QFETCH(QStringList, lines);
        QCOMPARE(toQt(sync::nocalhostIgnoreLines(toStd(filePatterns), toStd(ignoreFilePatterns))), lines);
    }

    void patternMode_data()
    {
        QTest::addColumn<QStringList>("filePatterns");
        QTest::addColumn<QStringList>("ignoreFilePatterns");
        QTest::addColumn<bool>("syncGit");
        QTest::addColumn<QString>("path");
        QTest::addColumn<bool>("isDir");
        QTest::addColumn<bool>("ignored");

        const bool dir = true, file = false, ignored = true, synced = false;
        auto row = [](const char *config, const QStringList &files, const QStringList &ignores, const char *path,
                      bool isDir, bool expected, bool syncGit = false) {
            QTest::addRow("%s: %s%s", config, path, isDir ? "/" : "")
                << files << ignores << syncGit << QString::fromUtf8(path) << isDir << expected;
        };
        const QStringList all = list({"."});

        // The usual Nocalhost config: everything but .git and ./build.
        const QStringList usual = list({".git", "./build"});
        row("usual", all, usual, "main.go", file, synced);
        row("usual", all, usual, "src/main.go", file, synced);
        row("usual", all, usual, "build", dir, ignored);
        row("usual", all, usual, "build/x/y.o", file, ignored);
        row("usual", all, usual, "build/x", dir, ignored);
        row("usual", all, usual, "src/build", dir, synced);
        row("usual", all, usual, "src/build/x", file, synced);
        row("usual", all, usual, "buildx", dir, synced);
        row("usual", all, usual, ".git", dir, ignored);
        row("usual", all, usual, ".git/config", file, ignored);
        row("usual", all, usual, "sub/.git", dir, ignored);
        row("usual", all, usual, "sub/.git/HEAD", file, ignored);
        row("usual", all, usual, ".gitignore", file, synced);

        // A deep whitelisted file: its parents are descended (syncthing does too) and kept.
        const QStringList mainGo = list({"src/main.go"});
        row("deep file", mainGo, {}, "src/main.go", file, synced);
        row("deep file", mainGo, {}, "src", dir, synced);
        row("deep file", mainGo, {}, "src/other.go", file, ignored);
        row("deep file", mainGo, {}, "README.md", file, ignored);
        row("deep file", mainGo, {}, "lib/src/main.go", file, synced); // unanchored: any depth
        row("deep file", mainGo, {}, "lib", dir, synced);
        row("deep file", mainGo, {}, ".git", dir, ignored);
        row("deep file", mainGo, {}, ".git/src/main.go", file, ignored);
        const QStringList rootedMainGo = list({"./src/main.go"});
        row("rooted deep file", rootedMainGo, {}, "src/main.go", file, synced);
        row("rooted deep file", rootedMainGo, {}, "src", dir, synced);
        row("rooted deep file", rootedMainGo, {}, "lib", dir, ignored);
        row("rooted deep file", rootedMainGo, {}, "lib/src/main.go", file, ignored);
        row("rooted deep file", rootedMainGo, {}, "src/sub", dir, ignored);
        row("rooted deep file", rootedMainGo, {}, "src/a.go", file, ignored);
        const QStringList deeper = list({"./a/b/c/keep.txt"});
        row("rooted deeper", deeper, {}, "a", dir, synced);
        row("rooted deeper", deeper, {}, "a/b", dir, synced);
        row("rooted deeper", deeper, {}, "a/b/c", dir, synced);
        row("rooted deeper", deeper, {}, "a/x", dir, ignored);
        row("rooted deeper", deeper, {}, "a/b/c/keep.txt", file, synced);
        row("rooted deeper", deeper, {}, "a/b/c/other.txt", file, ignored);
        // An ignore line covering the subtree wins over the later whitelist.
        const QStringList vendorKeep = list({"vendor/keep.go"});
        row("ignored parent", vendorKeep, list({"vendor"}), "vendor", dir, ignored);
        row("ignored parent", vendorKeep, list({"vendor"}), "vendor/keep.go", file, ignored);
        row("ignored parent", vendorKeep, list({"vendor"}), "src", dir, synced);
        // A wildcard whitelist descends everywhere but keeps only what matches.
        const QStringList goFiles = list({"*.go"});
        row("go files", goFiles, {}, "cmd", dir, synced);
        row("go files", goFiles, {}, "cmd/main.go", file, synced);
        row("go files", goFiles, {}, "cmd/README", file, ignored);
        row("go files", goFiles, {}, "main.go", file, synced);
        const QStringList docsDir = list({"docs/"});
        row("dir whitelist", docsDir, {}, "docs", dir, synced);
        row("dir whitelist", docsDir, {}, "docs/a.md", file, synced);
        row("dir whitelist", docsDir, {}, "x.md", file, ignored);
        row("first match wins", list({"build"}), list({"build"}), "build", dir, ignored);
        row("first match wins", list({"build"}), list({"build"}), "build/a", file, ignored);

        // Syncthing's documented syntax, as ignore lines with everything else synced.
        auto ignoring = [&](const char *pattern, const char *path, bool isDir, bool expected) {
            row(pattern, all, list({pattern}), path, isDir, expected);
        };
        ignoring("*.o", "a.o", file, ignored);
        ignoring("*.o", "x/y/a.o", file, ignored);
        ignoring("*.o", "a.oo", file, synced);
        ignoring("*.o", "a.o/b", file, ignored);
        ignoring("te*ne", "telephone", file, ignored);
        ignoring("te*ne", "subdir/telephone", file, ignored);
        ignoring("te*ne", "tele/phone", file, synced);
        ignoring("te**ne", "tele/sub/dir/phone", file, ignored);
        ignoring("te??st", "tebest", file, ignored);
        ignoring("te??st", "teb/st", file, synced);
        ignoring("te??st", "test", file, synced);
        ignoring("/foo", "foo", file, ignored);
        ignoring("/foo", "subdir/foo", file, synced);
        ignoring("foo", "foo", dir, ignored);
        ignoring("foo", "subdir/foo", file, ignored);
        ignoring("foo", "foo/bar", file, ignored);
        ignoring("foo", "food", file, synced);
        ignoring("[a-z]x", "bx", file, ignored);
        ignoring("[a-z]x", "Bx", file, synced);
        ignoring("[a-z]x", "1x", file, synced);
        ignoring("[!a-c]y", "dy", file, ignored);
        ignoring("[!a-c]y", "by", file, synced);
        ignoring("[abc]z", "cz", file, ignored);
        ignoring("[abc]z", "dz", file, synced);
        ignoring("{banana,pineapple}", "banana", file, ignored);
        ignoring("{banana,pineapple}", "pineapple", file, ignored);
        ignoring("{banana,pineapple}", "apple", file, synced);
        ignoring("{banana,pineapple}", "x/banana", file, ignored);
        ignoring("*.{jpg,png}", "a.png", file, ignored);
        ignoring("*.{jpg,png}", "a.gif", file, synced);
        ignoring("{a,b{c,d}}.txt", "bd.txt", file, ignored);
        ignoring("{a,b{c,d}}.txt", "b.txt", file, synced);
        ignoring("(?i)*.JPG", "a.jpg", file, ignored);
        ignoring("(?i)*.JPG", "dir/A.JpG", file, ignored);
        ignoring("*.JPG", "a.jpg", file, synced);
        ignoring("(?i)ÄRGER", "ärger", file, ignored);
        ignoring("(?d).DS_Store", ".DS_Store", file, ignored);
        ignoring("(?d)(?i)thumbs.db", "Thumbs.DB", file, ignored);
        ignoring("foo/", "foo", dir, synced); // "foo/" is "foo/**": only the contents
        ignoring("foo/", "foo/x", file, ignored);
        ignoring("**/cache", "cache", dir, ignored);
        ignoring("**/cache", "a/b/cache", dir, ignored);
        ignoring("**/cache", "a/b/cache/x", file, ignored);
        ignoring("a/**/b", "a/b", file, synced); // "**" is not optional between the slashes
        ignoring("a/**/b", "a/x/b", file, ignored);
        ignoring("a/**/b", "a/x/y/b", file, ignored);
        ignoring("\\*star", "*star", file, ignored);
        ignoring("\\*star", "xstar", file, synced);
        ignoring(".*", ".env", file, ignored);
        ignoring(".*", "a/.env", file, ignored);
        ignoring(".*", "a/env", file, synced);
        ignoring("  spaced  ", "spaced", file, ignored);
        ignoring("// comment", "comment", file, synced);
        ignoring("#hash", "#hash", file, ignored);
        ignoring("caf?", "café", file, ignored); // "?" is one code point
        ignoring("日本*", "x/日本語", file, ignored);
        ignoring("[ä-ö]", "ö", file, ignored);
        ignoring("src/*.o", "src/a.o", file, ignored);
        ignoring("src/*.o", "x/src/a.o", file, ignored);
        ignoring("src/*.o", "src/x/a.o", file, synced);

        // Defaults.
        row("nothing configured", {}, {}, "main.go", file, synced);
        row("nothing configured", {}, {}, "build/x", file, synced);
        row("nothing configured", {}, {}, ".git", dir, ignored);
        row("nothing configured", {}, {}, ".git/config", file, ignored);
        row("syncGit", {}, {}, ".git", dir, synced, true);
        row("syncGit", {}, {}, ".git/config", file, synced, true);
        row("syncGit but ignored", {}, list({".git"}), ".git", dir, ignored, true);
        row("schema default trap", all, all, "main.go", file, ignored);
        row("schema default trap", all, all, "src", dir, ignored);
        row("dot slash", list({"./"}), list({".git"}), "src/a.go", file, synced);
        row("dot slash", list({"./"}), list({".git"}), "src", dir, synced);

        // The real configs in shared/fixtures/nocalhost-configs/current.
        const QStringList horizon = list({"./build", "./chart", "./db", "./mock", "./openapi"});
        row("horizoncd/horizon", {}, horizon, "chart", dir, ignored);
        row("horizoncd/horizon", {}, horizon, "chart/values.yaml", file, ignored);
        row("horizoncd/horizon", {}, horizon, "pkg/db", dir, synced);
        row("horizoncd/horizon", {}, horizon, "core/main.go", file, synced);
        const QStringList iam = list({"./_output", ".idea/", ".postman/", ".github/", "./docs/", "./test/", "./web/"});
        row("coding-hui/iam", all, iam, "_output", dir, ignored);
        row("coding-hui/iam", all, iam, ".idea", dir, synced);
        row("coding-hui/iam", all, iam, ".idea/workspace.xml", file, ignored);
        row("coding-hui/iam", all, iam, "sub/.github/x.yml", file, ignored);
        row("coding-hui/iam", all, iam, "docs/a.md", file, ignored);
        row("coding-hui/iam", all, iam, "pkg/docs/a.md", file, synced);
        row("coding-hui/iam", all, iam, "cmd/main.go", file, synced);
        const QStringList jar = list({"xuanwu-codegen/target/xuanwu-codegen-*.jar"});
        row("coding-hui/Xuanwu", jar, {}, "xuanwu-codegen/target/xuanwu-codegen-1.0.jar", file, synced);
        row("coding-hui/Xuanwu", jar, {}, "xuanwu-codegen/target", dir, synced);
        row("coding-hui/Xuanwu", jar, {}, "xuanwu-codegen/src/Main.java", file, ignored);
        row("coding-hui/Xuanwu", jar, {}, "xuanwu-codegen/target/classes/A.class", file, ignored);
        const QStringList demoJar = list({"target/springboot-sample-demo.jar"});
        row("Young-Zen/springboot", demoJar, list({".git"}), "target/springboot-sample-demo.jar", file, synced);
        row("Young-Zen/springboot", demoJar, list({".git"}), "pom.xml", file, ignored);
        row("Young-Zen/springboot", demoJar, list({".git"}), "target", dir, synced);
        const QStringList redis = list({".git", "testbin", "bin", "hack"});
        row("von1994/cndb-redis", all, redis, "bin/manager", file, ignored);
        row("von1994/cndb-redis", all, redis, "cmd/bin", dir, ignored);
        row("von1994/cndb-redis", all, redis, "binary", file, synced);
        row("mingshun/local-bookinfo-go", list({"./"}), list({".git"}), "productpage/main.go", file, synced);
    }
    void patternMode()
    {
        QFETCH(QStringList, filePatterns);
        QFETCH(QStringList, ignoreFilePatterns);
        QFETCH(bool, syncGit);
        QFETCH(QString, path);
        QFETCH(bool, isDir);
        QFETCH(bool, ignored);
        std::string error;
        const auto rules = sync::makePatternRules(toStd(filePatterns), toStd(ignoreFilePatterns), syncGit, &error);
        QVERIFY2(rules, error.c_str());
        QCOMPARE(rules->isIgnored(path.toStdString(), isDir), ignored);
        QVERIFY(!rules->isRulesFile(".gitignore"));
    }

    void patternErrors_data()
    {
        QTest::addColumn<QStringList>("filePatterns");
        QTest::addColumn<QStringList>("ignoreFilePatterns");
        QTest::addColumn<QString>("error");
        QTest::newRow("unterminated class")
            << QStringList() << list({"[a"}) << u"ignoreFilePattern \"[a\": unterminated character class"_qs;
        QTest::newRow("unterminated class in file")
            << list({"src/[x-"}) << QStringList() << u"filePattern \"src/[x-\": unterminated character class"_qs;
        QTest::newRow("escaped class end")
            << list({"[a\\]"}) << QStringList() << u"filePattern \"[a\\]\": unterminated character class"_qs;
        QTest::newRow("unterminated alternation")
            << QStringList() << list({"{a,b"}) << u"ignoreFilePattern \"{a,b\": unterminated alternation"_qs;
        QTest::newRow("nested unterminated") << QStringList() << list({"x", "{a,{b,c}"})
                                             << u"ignoreFilePattern \"{a,{b,c}\": unterminated alternation"_qs;
        QTest::newRow("reversed range") << QStringList() << list({"[z-a]"})
                                        << u"ignoreFilePattern \"[z-a]\": character range out of order"_qs;
        QTest::newRow("empty file pattern") << list({""}) << QStringList() << u"filePattern \"\": missing pattern"_qs;
        QTest::newRow("prefix only") << list({"(?i)"}) << QStringList() << u"filePattern \"(?i)\": missing pattern"_qs;
        QTest::newRow("include") << QStringList() << list({"#include more.txt"})
                                 << u"ignoreFilePattern \"#include more.txt\": #include is not supported"_qs;
        QTest::newRow("hostile") << QStringList() << list({"{{{{{{{{{{"})
                                 << u"ignoreFilePattern \"{{{{{{{{{{\": unterminated alternation"_qs;
    }
    void patternErrors()
    {
        QFETCH(QStringList, filePatterns);
        QFETCH(QStringList, ignoreFilePatterns);
        QFETCH(QString, error);
        std::string message;
        QVERIFY(!sync::makePatternRules(toStd(filePatterns), toStd(ignoreFilePatterns), false, &message));
        QCOMPARE(QString::fromStdString(message), error);
    }

    void patternAccepted_data()
    {
        QTest::addColumn<QString>("pattern");
        for (const char *pattern : {"", "// comment", "a}", "a,b", "\\[a", "[]]", "[!]x", "{}", "{a,}", "x\\", "***"})
            QTest::newRow(pattern) << QString::fromUtf8(pattern);
    }
    void patternAccepted()
    {
        QFETCH(QString, pattern);
        std::string error;
        QVERIFY2(sync::makePatternRules({"."}, {pattern.toStdString()}, false, &error), error.c_str());
    }

    // Every pattern list of the real Nocalhost configs compiles, and the simple ones do what
    // they say.
    void fixturePatterns()
    {
        const auto found = readFixturePatterns();
        QVERIFY(found.size() >= 40);
        int simpleChecks = 0;
        for (const FixturePatterns &entry : found) {
            const auto patterns = toStd(entry.patterns);
            const bool isIgnore = entry.key == u"ignoreFilePattern";
            std::string error;
            const auto rules = isIgnore ? sync::makePatternRules({"."}, patterns, false, &error)
                                        : sync::makePatternRules(patterns, {}, false, &error);
            QVERIFY2(rules, qPrintable(entry.file + u' ' + entry.key + u": " + QString::fromStdString(error)));
            for (const QString &pattern : entry.patterns) {
                QString name = pattern.startsWith(u"./") ? pattern.mid(2) : pattern;
                if (name.endsWith(u'/'))
                    name.chop(1);
                if (name.isEmpty() || name == u"." || name.contains(QRegularExpression(QStringLiteral(R"([*?\[{/])"))))
                    continue;
                const std::string below = name.toStdString() + "/some/file.txt";
                QVERIFY2(rules->isIgnored(below, false) == isIgnore,
                         qPrintable(entry.file + u' ' + entry.key + u' ' + pattern));
                ++simpleChecks;
            }
            if (!isIgnore && (entry.patterns.contains(u"."_qs) || entry.patterns.contains(u"./"_qs)))
                QVERIFY(!rules->isIgnored("cmd/server/main.go", false));
        }
        QVERIFY(simpleChecks >= 20);
    }

    void gitIgnore_data()
    {
        QTest::addColumn<QStringList>("rulesFiles");
        QTest::addColumn<QStringList>("paths");

        QTest::newRow("syntax") << QStringList {u".gitignore"_qs,
                                                u"# a comment\n"
                                                "*.o\n"
                                                "!keep.o\n"
                                                "build/\n"
                                                "/rootonly\n"
                                                "doc/*.txt\n"
                                                "**/logs\n"
                                                "foo/**/bar\n"
                                                "a/**\n"
                                                "\\#hash\n"
                                                "\\!bang\n"
                                                "trailing\\ \n"
                                                "spaced   \n"
                                                " lead\n"
                                                "*.tmp/\n"
                                                "café\n"
                                                "x?z\n"
                                                "[0-9]*.dat\n"
                                                "[!a]b.bin\n"
                                                "c[[:digit:]].c\n"
                                                "d[]]e\n"
                                                "mid/**/end/\n"_qs}
                                << list({"x.o",
                                         "keep.o",
                                         "src/y.o",
                                         "src/keep.o",
                                         "build/out",
                                         "src/build/z",
                                         "lib/build",
                                         "rootonly",
                                         "src/rootonly",
                                         "doc/a.txt",
                                         "doc/sub/b.txt",
                                         "logs/x",
                                         "deep/er/logs/y",
                                         "logsx",
                                         "foo/bar",
                                         "foo/x/y/bar",
                                         "foo/bar2",
                                         "a/b",
                                         "a/c/d",
                                         "#hash",
                                         "!bang",
                                         "trailing ",
                                         "trailing",
                                         "spaced",
                                         "spaced   ",
                                         " lead",
                                         "lead",
                                         "t.tmp/",
                                         "u.tmp",
                                         "café",
                                         "sub/café",
                                         "xyz",
                                         "x/z",
                                         "1.dat",
                                         "a.dat",
                                         "bb.bin",
                                         "ab.bin",
                                         "c1.c",
                                         "cx.c",
                                         "d]e",
                                         "de",
                                         "mid/end/",
                                         "mid/a/b/end/",
                                         "mid/end2/",
                                         "sp ace/f",
                                         "日本/語.o",
                                         "日本/語"});
        QTest::newRow("nested files")
            << QStringList {u".gitignore"_qs,          u"*.log\n!important.log\nsub/**/tmp\n"_qs,
                            u"sub/.gitignore"_qs,      u"!*.log\n/local\nnested/\n"_qs,
                            u"sub/deep/.gitignore"_qs, u"*.log\n!/x.log\n*.c\n"_qs,
                            u"other/.gitignore"_qs,    u"!/sub\n/local/\n"_qs}
            << list({"a.log", "important.log", "sub/a.log", "sub/deep/a.log", "sub/deep/x.log", "sub/deep/deeper/x.log",
                     "sub/local", "sub/deep/local", "local", "sub/nested/f", "nested/f", "sub/deep/nested/",
                     "sub/x/tmp", "sub/tmp", "sub/deep/a.c", "a.c", "other/local/f", "other/sub/local", "other/x.log"});
        QTest::newRow("parent excluded") << QStringList {u".gitignore"_qs,
                                                         u"out/\n!out/keep.txt\nvendor/*\n!vendor/keep/\n"
                                                         "vendor/keep/*\n!vendor/keep/this.txt\n"_qs,
                                                         u"out/.gitignore"_qs,
                                                         u"!keep.txt\n!*\n"_qs,
                                                         u"vendor/keep/.gitignore"_qs,
                                                         u"!also.txt\n"_qs}
                                         << list({"out/keep.txt", "out/other", "vendor/a", "vendor/b/c",
                                                  "vendor/keep/this.txt", "vendor/keep/that.txt",
                                                  "vendor/keep/also.txt", "vendor/keep/sub/x"});
        QTest::newRow("directories only") << QStringList {u".gitignore"_qs, u"/*/\n!/src/\nsrc/*/\n!src/keep/\n"_qs}
                                          << list({"file", "dir/x", "src/a", "src/b/c", "src/keep/d", "src/keep/e/f"});
        QTest::newRow("star forms") << QStringList {u".gitignore"_qs,
                                                    u"**/a/**/b\n**/c\nd/**\n/e/**/\nf**g\n**h\ni/*/j\n"
                                                    "k/**/**/l\nm***\n*/n\n/**/o\nab**/c\n/pq**/r/\n"_qs}
                                    << list({"a/b",      "a/x/b",   "x/a/y/z/b", "c",     "x/c",   "w/c/y",   "d/z",
                                             "d/x/y",    "e/",      "e/x/",      "e/y",   "fg",    "fxg",     "fx/yg",
                                             "h",        "xh",      "x/h",       "i/x/j", "i/j",   "i/x/y/j", "k/l",
                                             "k/x/l",    "k/x/y/l", "mxx",       "m/x",   "x/n",   "n",       "x/y/n",
                                             "o",        "x/o",     "x/y/o",     "ab/c",  "abx/c", "abx/y/c", "pq/r/",
                                             "pqx/y/r/", "pqx/r/"});
        QTest::newRow("info exclude") << QStringList {u".git/info/exclude"_qs, u"*.tmp\n!keep.tmp\nsecret/\n"_qs,
                                                      u".gitignore"_qs,        u"!a.tmp\nb.tmp\n"_qs,
                                                      u"x/.gitignore"_qs,      u"!/secret/\n"_qs}
                                      << list({"a.tmp", "b.tmp", "c.tmp", "keep.tmp", "x/c.tmp", "secret/f",
                                               "x/secret/f", "y/secret/f"});
        QTest::newRow("crlf and bom") << QStringList {u".gitignore"_qs, u"\ufeff*.crlf\r\nfoo\r\n\r\n#x\r\nbar \r\n"_qs}
                                      << list({"a.crlf", "foo", "bar", "bar ", "#x", "x/foo"});
        QTest::newRow("negation order") << QStringList {u".gitignore"_qs, u"!x\n*\n!*/\n!*.txt\n"_qs,
                                                        u"d/.gitignore"_qs, u"*.txt\n!keep.txt\n"_qs}
                                        << list({"x", "a.txt", "a.md", "d/a.txt", "d/keep.txt", "d/e/keep.txt",
                                                 "d/e/a.md", "d/e/b.txt", ".gitignore"});
        QTest::newRow("escapes and brackets") << QStringList {u".gitignore"_qs,
                                                              u"\\*\n\\?q\nr\\[s\n[\\]]t\n[a-]u\n[]-]v\nw[\n"
                                                              "[[:alpha:]]1\n[[:bogus:]]2\n[^a]3\n\\\\4\n"_qs}
                                              << list({"*", "x", "?q", "aq", "r[s", "]t", "-u", "au", "bu", "]v", "-v",
                                                       "w[", "w", "a1", "11", "a2", "b3", "a3", "\\4"});
        QTest::newRow("unicode and odd names")
            << QStringList {u".gitignore"_qs, u"日本*\n!日本語.txt\n*é\n?\n/sp ace/\n#not a comment?\n \\#x\n"_qs,
                            u"sp ace/.gitignore"_qs, u"!*\n"_qs}
            << list({"日本", "日本語.txt", "日本語.md", "café", "cafe", "x", "xy", "sp ace/f", "a/sp ace/f",
                     "#not a comment!", " #x", "#x"});
    }
    void gitIgnore()
    {
        QFETCH(QStringList, rulesFiles);
        QFETCH(QStringList, paths);
        GitTree tree;
        QVERIFY(tree.isValid());
        QVERIFY(tree.create(rulesFiles, paths));
        const auto rules = sync::makeGitIgnoreRules(tree.root().toStdString(), false);
        int checks = 0;
        const QStringList mismatches = compareWithGit(tree, *rules, &checks);
        QVERIFY2(mismatches.isEmpty(), qPrintable(mismatches.join(u'\n') + describeRules(rulesFiles)));
        QVERIFY(checks >= paths.size());
        m_gitChecks += checks;
    }

    void gitIgnoreRandomized()
    {
        QRandomGenerator rng(20240611);
        const QStringList names = list({"a",   "b",  "ab", "abc",  "x.o", "y.log", "keep.txt", "build", "src", "tmp",
                                        "doc", "#h", "!n", "sp c", "é",   "日本",  "a.b",      "foo",   "bar", "z z"});
        const QStringList parts = list({"a",     "b",     "ab",           "*",   "?",       "*.o",  "a*",   "*b",
                                        "[ab]*", "[!a]*", "[a-c]",        "**",  "*.log",   "\\#h", "\\!n", "sp\\ c",
                                        "é",     "日*",   "build",        "src", "tmp",     "foo",  "b?r",  "a**",
                                        "**b",   "*.*",   "[[:alpha:]]*", "x.o", "keep.txt"});
        auto pick = [&](const QStringList &from) { return from[int(rng.bounded(quint32(from.size())))]; };
        auto chance = [&](int percent) { return int(rng.bounded(100u)) < percent; };
        auto pattern = [&] {
            QStringList segments;
            const int count = 1 + int(rng.bounded(3u));
            for (int i = 0; i < count; ++i)
                segments.append(pick(parts));
            QString p = segments.join(u'/');
            if (chance(20))
                p.prepend(u'/');
            if (chance(20))
                p.append(u'/');
            if (chance(30))
                p.prepend(u'!');
            if (chance(5))
                p.append(u' ');
            return p;
        };

        int checks = 0;
        const int trees = 60;
        for (int t = 0; t < trees; ++t) {
            QStringList dirs {QString()};
            QSet<QString> taken;
            QStringList paths;
            auto child = [&](const QString &parent) {
                const QString name = pick(names);
                return parent.isEmpty() ? name : parent + u'/' + name;
            };
            for (int i = 0; i < 10; ++i) {
                const QString d = child(pick(dirs));
                if (taken.contains(d))
                    continue;
                taken.insert(d);
                dirs.append(d);
                paths.append(d + u'/');
            }
            for (int i = 0; i < 25; ++i) {
                const QString f = child(pick(dirs));
                if (taken.contains(f))
                    continue;
                taken.insert(f);
                paths.append(f);
            }
            QStringList rulesFiles;
            QSet<QString> withRules;
            const int files = 1 + int(rng.bounded(3u));
            for (int i = 0; i < files; ++i) {
                const QString d = i == 0 ? QString() : pick(dirs);
                if (withRules.contains(d))
                    continue;
                withRules.insert(d);
                QStringList lines;
                const int count = 1 + int(rng.bounded(6u));
                for (int j = 0; j < count; ++j)
                    lines.append(pattern());
                rulesFiles << (d.isEmpty() ? u".gitignore"_qs : d + u"/.gitignore") << lines.join(u'\n') + u'\n';
            }
            GitTree tree;
            QVERIFY(tree.isValid());
            QVERIFY(tree.create(rulesFiles, paths));
            const auto rules = sync::makeGitIgnoreRules(tree.root().toStdString(), false);
            const QStringList mismatches = compareWithGit(tree, *rules, &checks);
            QVERIFY2(mismatches.isEmpty(),
                     qPrintable(u"tree %1:\n"_qs.arg(t) + mismatches.join(u'\n') + describeRules(rulesFiles)));
        }
        QVERIFY(checks >= 1000);
        qInfo("gitIgnore mode agreed with git check-ignore on %d fixed and %d random paths", m_gitChecks, checks);
    }

    // The cache holds until invalidate(); afterwards the answers follow the files again.
    void gitIgnoreInvalidate()
    {
        GitTree tree;
        QVERIFY(tree.isValid());
        QVERIFY(tree.create({u".gitignore"_qs, u"*.a\n"_qs}, list({"x.a", "x.b", "sub/y.a", "sub/y.b"})));
        const auto rules = sync::makeGitIgnoreRules(tree.root().toStdString(), false);
        QVERIFY(rules->isIgnored("x.a", false));
        QVERIFY(!rules->isIgnored("sub/y.b", false));

        QVERIFY(tree.write(u".gitignore"_qs, "*.b\n"));
        QVERIFY(tree.write(u"sub/.gitignore"_qs, "!y.b\n*.a\n"));
        QVERIFY(rules->isIgnored("x.a", false)); // cached
        QVERIFY(rules->isIgnored("sub/y.a", false));
        rules->invalidate(".gitignore");
        QVERIFY(!rules->isIgnored("x.a", false));
        QVERIFY(rules->isIgnored("x.b", false));
        QVERIFY(!rules->isIgnored("sub/y.a", false)); // sub/.gitignore was cached as absent
        rules->invalidate("sub/.gitignore");
        int checks = 0;
        QStringList mismatches = compareWithGit(tree, *rules, &checks);
        QVERIFY2(mismatches.isEmpty(), qPrintable(mismatches.join(u'\n')));

        QVERIFY(tree.write(u".git/info/exclude"_qs, "x.*\n"));
        rules->invalidate(".git/info/exclude");
        mismatches = compareWithGit(tree, *rules, &checks);
        QVERIFY2(mismatches.isEmpty(), qPrintable(mismatches.join(u'\n')));
        QVERIFY(rules->isIgnored("x.a", false));

        // A directory excluded only after a change: verdicts cached for it are dropped too.
        QVERIFY(tree.write(u".gitignore"_qs, "sub/\n"));
        rules->invalidate(".gitignore");
        QVERIFY(rules->isIgnored("sub/y.b", false));
        mismatches = compareWithGit(tree, *rules, &checks);
        QVERIFY2(mismatches.isEmpty(), qPrintable(mismatches.join(u'\n')));
        rules->invalidate("sub/other.txt"); // not a rules file: no effect
        QVERIFY(rules->isIgnored("sub", true));
    }

    void gitIgnoreDotGit()
    {
        GitTree tree;
        QVERIFY(tree.isValid());
        QVERIFY(tree.create({u".gitignore"_qs, u"*.o\n"_qs}, list({"a.o", "b.c"})));
        const auto hidden = sync::makeGitIgnoreRules(tree.root().toStdString(), false);
        const auto synced = sync::makeGitIgnoreRules(tree.root().toStdString(), true);
        QVERIFY(hidden->isIgnored(".git", true));
        QVERIFY(hidden->isIgnored(".git/config", false));
        QVERIFY(hidden->isIgnored("sub/.git", true));
        QVERIFY(!hidden->isIgnored(".gitignore", false));
        QVERIFY(!hidden->isIgnored(".github", true));
        QVERIFY(!synced->isIgnored(".git", true));
        QVERIFY(!synced->isIgnored(".git/config", false));
        QVERIFY(synced->isIgnored(".git/x.o", false));
        QVERIFY(synced->isIgnored("a.o", false));
    }

    void gitIgnoreRulesFile_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<bool>("rulesFile");
        QTest::newRow("root") << u".gitignore"_qs << true;
        QTest::newRow("nested") << u"a/b/.gitignore"_qs << true;
        QTest::newRow("info exclude") << u".git/info/exclude"_qs << true;
        QTest::newRow("nested info exclude") << u"a/.git/info/exclude"_qs << false;
        QTest::newRow("similar name") << u"a/.gitignore.bak"_qs << false;
        QTest::newRow("directory named like it") << u".gitignore/x"_qs << false;
        QTest::newRow("attributes") << u".gitattributes"_qs << false;
        QTest::newRow("stignore") << u".stignore"_qs << false;
    }
    void gitIgnoreRulesFile()
    {
        QFETCH(QString, path);
        QFETCH(bool, rulesFile);
        const auto rules = sync::makeGitIgnoreRules("/nonexistent", false);
        QCOMPARE(rules->isRulesFile(path.toStdString()), rulesFile);
    }

    // No .gitignore at all (not even a root that exists): nothing but .git is ignored.
    void gitIgnoreMissingRoot()
    {
        const auto rules = sync::makeGitIgnoreRules("/nonexistent/iterdeck", false);
        QVERIFY(!rules->isIgnored("a/b/c", false));
        QVERIFY(!rules->isIgnored("a", true));
        QVERIFY(rules->isIgnored(".git", true));
    }

private:
    int m_gitChecks = 0;
};

QTEST_GUILESS_MAIN(TestSyncIgnore)
#include "tst_syncignore.moc"

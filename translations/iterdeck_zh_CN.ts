<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>iterdeck</name>
    <message>
        <source>Iterdeck desktop app. The tray and its windows are not part of this version yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>the tray app is not part of this version yet; use iterdeckctl</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>iterdeck-bot</name>
    <message>
        <source>The Iterdeck ChatOps controller. This version checks the team manifest (iterdeck.yaml).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The team manifest to use (default: ./iterdeck.yaml).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Check the team manifest, print every problem, and exit: 0 when valid, 1 when not.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>unexpected argument: %1</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>this version can only check a manifest: run with --check-config</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: valid team manifest for project &quot;%2&quot; (%3 components, %4 webhook sources, %5 people)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>iterdeck::ctl</name>
    <message>
        <source>team manifest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>dev config</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: valid %2 (%3 warning(s))
</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: invalid %2 (%3 error(s), %4 warning(s))
</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>

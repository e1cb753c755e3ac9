"""Workload trees for bench/sync/run.

gen_w1(root, scale): W1. At scale 1 it runs shared/bench/gen_tree.py when that file is found (the standard
generator); otherwise, or at another scale, it uses the port below, which makes the same calls on a
random.Random(42) and therefore writes byte-identical text files at scale 1 (the 100 blobs are os.urandom
in both, so only their bytes differ). At scale s the three groups have round(7000 s), round(2900 s), round(100 s) files.

gen_w1b(root, nfiles): W1b, nfiles x 1,024 B in dNN/sNN/fK.txt (10 files per leaf dir), seed 1234.

branch_switch(root, ...): W3, a re-implementation of the reference's branch_switch.py from its description
(seed 7: rewrite 1,000 src .ts files with new content of size +-10 %, delete 100 other src .ts files, add 100 new
.ts files, 50 in src/newmod and 50 spread over existing src/modNN). The reference script itself is not in
shared/, so file choices differ from the reference's; counts and sizes follow it.
"""
import os, random, shutil, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHA = 'abcdefghijklmnopqrstuvwxyz_(){};\n '


def find_shared_gen():
    cands = [os.environ.get("SYNCBENCH_GEN_TREE", ""),
             os.path.join(HERE, "..", "..", "..", "shared", "bench", "gen_tree.py"),
             os.path.join(HERE, "..", "..", "shared", "bench", "gen_tree.py"),
             "/work/shared/bench/gen_tree.py"]
    for c in cands:
        if c and os.path.isfile(c):
            return os.path.abspath(c)
    return None


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gen_w1(root, scale=1.0, use_shared=True):
    shared = find_shared_gen() if use_shared else None
    if scale == 1.0 and shared:
        subprocess.run([sys.executable, shared, root], check=True, stdout=subprocess.DEVNULL)
        return "shared/bench/gen_tree.py"
    rng = random.Random(42)

    def chunk():
        return ''.join(rng.choice(ALPHA) for _ in range(256)).encode()
    for i in range(round(7000 * scale)):
        s = rng.randint(200, 8000); c = chunk()
        _write(f"{root}/node_modules/pkg{i//20:03d}/lib/sub{i%5}/f{i}.js", (c * (s // 256 + 1))[:s])
    for i in range(round(2900 * scale)):
        s = rng.randint(500, 40000); c = chunk()
        _write(f"{root}/src/mod{i//50:02d}/file{i}.ts", (c * (s // 256 + 1))[:s])
    for i in range(round(100 * scale)):
        _write(f"{root}/src/assets/blob{i}.bin", os.urandom(1_300_000))
    return f"gen.py port of gen_tree.py, scale {scale}"


_PRINTABLE = bytes((0x61 + (b % 26)) if b % 32 else 0x0a for b in range(256))


def gen_w1b(root, nfiles=100_000):
    rng = random.Random(1234)
    for i in range(nfiles):
        leaf = i // 10
        d, s = leaf // 100, leaf % 100
        _write(f"{root}/d{d:02d}/s{s:02d}/f{i%10}.txt", rng.randbytes(1024).translate(_PRINTABLE))


def _ts_content(rng, size):
    c = ''.join(rng.choice(ALPHA) for _ in range(256)).encode()
    return (c * (size // 256 + 1))[:size]


def branch_switch(root, seed=7, n_mod=1000, n_del=100, n_add=100):
    """Apply the W3 change set to ROOT in place. Returns dict(modified, deleted, added) of relative paths."""
    rng = random.Random(seed)
    src = os.path.join(root, "src")
    mods = sorted(d for d in os.listdir(src) if d.startswith("mod"))
    ts = sorted(f"src/{m}/{f}" for m in mods for f in os.listdir(os.path.join(src, m))
                if f.endswith(".ts") and f.startswith("file"))
    picked = rng.sample(ts, n_mod + n_del)
    modified, deleted = sorted(picked[:n_mod]), sorted(picked[n_mod:])
    for rel in modified:
        p = os.path.join(root, rel)
        old = os.path.getsize(p)
        _unlink_write(p, _ts_content(rng, max(1, int(old * rng.uniform(0.9, 1.1)))))
    for rel in deleted:
        os.unlink(os.path.join(root, rel))
    added = []
    for k in range(n_add):
        if k < n_add // 2:
            rel = f"src/newmod/new{k}.ts"
        else:
            rel = f"src/{mods[(k * 7) % len(mods)]}/added{k}.ts"
        _write(os.path.join(root, rel), _ts_content(rng, rng.randint(500, 40000)))
        added.append(rel)
    return {"modified": modified, "deleted": deleted, "added": sorted(added)}


def _unlink_write(path, data):
    # what git checkout does for a changed file: unlink, then create and write
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    _write(path, data)


def checkout(target, frm, to, change):
    """Make tree TARGET (== pristine FRM) equal to pristine TO, touching only the paths in CHANGE
    (a branch_switch result for FRM->TO or TO->FRM). Writes like git: unlink + create, sorted order.
    Returns the expectations {rel: content-or-None}."""
    paths = sorted(set(change["modified"]) | set(change["deleted"]) | set(change["added"]))
    exp = {}
    for rel in paths:
        p_to = os.path.join(to, rel)
        p_t = os.path.join(target, rel)
        if os.path.exists(p_to):
            with open(p_to, "rb") as f:
                data = f.read()
            _unlink_write(p_t, data)
            shutil.copymode(p_to, p_t)
            exp[rel] = data
        else:
            try:
                os.unlink(p_t)
            except FileNotFoundError:
                pass
            exp[rel] = None
    # remove directories that exist only in FRM (e.g. src/newmod when switching back)
    for rel in paths:
        d = os.path.dirname(rel)
        while d and not os.path.isdir(os.path.join(to, d)) and os.path.isdir(os.path.join(target, d)):
            try:
                os.rmdir(os.path.join(target, d))
                exp[d] = None
            except OSError:
                break
            d = os.path.dirname(d)
    return exp

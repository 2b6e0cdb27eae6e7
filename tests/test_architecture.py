"""The structure the code promises: state has one owner, and the layers import downwards.

* No module keeps mutable state of its own: no module-level dict, list, set, lock or
  cache (constants are tuples, frozensets or read-only mappings), no ``global``
  statement, no ``functools.cache``. State lives in an ``Engine`` (or the objects it owns).
* No import cycle between the modules of ``src/challenge_qa``, and no subpackage imports
  from one above it in the flow ``text -> corpus -> encoders -> store -> search ->
  answering -> eval -> engine -> app``.
* Two engines in one process share nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from challenge_qa import Engine, Settings
from challenge_qa.testing import HashEmbedder, write_corpus

SRC = Path(__file__).resolve().parents[1] / "src" / "challenge_qa"
#: The flow of the package, bottom first: a module may import from its own layer and the
#: layers before it. ``config`` and ``errors`` are below everything.
LAYERS = [("config", "errors", "formats"), ("text",), ("corpus",), ("encoders",), ("store",),
          ("search",), ("answering",), ("eval",), ("engine",), ("testing",), ("app",)]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: The only module-level state, each with its reason.
ALLOWED_STATE = {
    # the module functions (``retrieve``, ``answer`` ...) are wrappers over one engine
    ("engine.py", "DEFAULT"),
    # numpy parses array headers with ast.literal_eval, which CPython before 3.11.8 cannot
    # run in two threads at once: a process-wide interpreter limit, so a process-wide lock
    ("store/segments.py", "_NPY_LOCK"),
}
MUTABLE_CALLS = {"dict", "list", "set", "OrderedDict", "defaultdict", "deque", "Counter",
                 "Lock", "RLock", "Event", "Condition", "WeakValueDictionary", "local"}


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    return None


def module_state(path: Path) -> list[str]:
    """Names of the mutable module-level values, caches and globals of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for t in targets:
            name = getattr(t, "id", None)
            if name in (None, "__all__"):
                continue
            mutable = isinstance(value, ast.Dict | ast.List | ast.Set | ast.ListComp
                                 | ast.DictComp | ast.SetComp) or (
                _call_name(value) in MUTABLE_CALLS)
            if mutable:
                found.append(name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for d in node.decorator_list:
                name = _call_name(d) or getattr(d, "attr", None) or getattr(d, "id", None)
                if name in ("lru_cache", "cache"):
                    found.append(f"@{name} {node.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.append("global " + ", ".join(node.names))
    return found


def test_no_module_keeps_mutable_state():
    state = {}
    for path in modules():
        rel = path.relative_to(SRC).as_posix()
        names = [n for n in module_state(path) if (rel, n) not in ALLOWED_STATE]
        if names:
            state[rel] = names
    assert state == {}, f"module-level state outside an Engine: {state}"


def test_the_state_check_finds_state(tmp_path):
    code = ("import threading\nfrom functools import lru_cache\n_CACHE = {}\n"
            "_LOCK = threading.Lock()\nOK = (1, 2)\n@lru_cache(maxsize=1)\ndef f():\n"
            "    global OK\n")
    (tmp_path / "m.py").write_text(code)
    assert module_state(tmp_path / "m.py") == ["_CACHE", "_LOCK", "@lru_cache f", "global OK"]


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package ("store", "engine" ...)."""
    part = module.split(".")[1] if module.count(".") else "__init__"
    return part


def imports(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports (at any depth of the file)."""
    rel = path.relative_to(SRC).with_suffix("")
    me = ["challenge_qa", *rel.parts]
    pkg = me[:-1] if rel.name != "__init__" else me[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("challenge_qa"):
                continue
            for alias in node.names:  # "from . import segments" names a module
                sub = f"{mod}.{alias.name}"
                if (SRC.parent / (sub.replace(".", "/") + ".py")).exists():
                    out.add(sub)
                    break
            else:
                out.add(mod)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("challenge_qa")}
    return out


def graph() -> dict[str, set[str]]:
    g = {}
    for path in modules():
        rel = path.relative_to(SRC).with_suffix("")
        name = ".".join(["challenge_qa", *rel.parts]).removesuffix(".__init__")
        g[name] = {m for m in imports(path) if m != name}
    return g


def test_no_import_cycles():
    g = graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(n, stack):
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if m not in g:
                continue
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_no_module_imports_from_a_layer_above_its_own():
    up = []
    for mod, deps in graph().items():
        if mod == "challenge_qa":
            continue  # the package's lazy exports name everything
        me = RANK[layer(mod)]
        for d in deps:
            if d != "challenge_qa" and RANK[layer(d)] > me:
                up.append(f"{mod} -> {d}")
    assert up == []


@pytest.fixture
def two_engines(tmp_path):
    a = write_corpus(tmp_path / "a")
    b = write_corpus(tmp_path / "b", [("owls.md", "---\ntitle: Owls of the valley\n---\n\n"
                                                  "Barn owls hunt voles at night over the "
                                                  "meadows of the valley.\n")])
    # hashed words are a weak model: every article counts for a timeline
    engines = [Engine(Settings(corpus_dir=c, index_dir=tmp_path / f"index-{c.name}",
                               show_progress=False, timeline_min_article=0.0),
                      embedder=HashEmbedder(dimension=dim))
               for c, dim in ((a, 64), (b, 32))]
    yield engines
    for e in engines:
        e.close()


def test_an_engine_builds_answers_and_times_a_corpus_without_a_model(two_engines):
    e = two_engines[0]
    report = e.build()
    assert (report.articles, e.status().state) == (3, "ready")
    assert e.retrieve("Where did the ash fall?", k=1)[0].doc_id == "etna.md"
    a = e.answer("Where did the ash fall?")
    assert a.found and a.citations[0].doc_id == "etna.md"
    t = e.timeline("Mount Etna")
    assert t.articles >= 1 and t.to_dict()["topic"] == "Mount Etna"
    assert e.index().manifest["model"] == "hash-64"


def test_two_engines_in_one_process_share_no_state(two_engines):
    a, b = two_engines
    a.build()
    b.build()
    assert a.index() is not b.index()
    assert a.embedder is not b.embedder and a.index().embedder is a.embedder
    assert a.index().pool is not b.index().pool
    assert a.index().sentence_vectors is not b.index().sentence_vectors
    assert {h.doc_id for h in a.retrieve("owls", k=5)} <= {"etna.md", "chess.md",
                                                           "lighthouse.md"}
    assert [h.doc_id for h in b.retrieve("Where do owls hunt?", k=5)] == ["owls.md"]
    assert (a.index().dimension, b.index().dimension) == (64, 32)
    a.close()  # closing one leaves the other answering
    assert b.retrieve("barn owls", k=1)[0].doc_id == "owls.md"


def test_an_engine_reloads_its_index_after_a_build_and_adds_files(two_engines, tmp_path):
    e = two_engines[0]
    e.build()
    first = e.index()
    extra = tmp_path / "whales.md"
    extra.write_text("---\ntitle: Whales return\n---\n\nHumpback whales returned to the "
                     "bay this spring for the first time in a decade.\n")
    [report] = e.add([extra])
    assert report.saved and e.index() is not first
    assert e.retrieve("humpback whales", k=1)[0].title == "Whales return"

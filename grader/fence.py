"""The source fence: what a graded Python file may reach, read in the parent.

Some of the course's rules are watched from inside the student's process, by the op
recorder: Level 1's banned calls and block-wise reductions, the loop order of v1 and
v2, the causal blocks v2 skips, the Triton launches and input copies of the Triton
exercises. Code in that process can blind a recorder (torch's private dispatch-mode
helpers switch it off in two lines; work done in numpy, in another thread or behind a
custom op never reaches it; a monkeypatch rewrites it). So before a child is started,
the parent parses the exact bytes the child will import and refuses every route to
such work that we know of:

- imports other than a short allowlist (torch, math and a few standard helpers;
  triton only in a Triton exercise; the course's own `grader.contract`), and the parts
  of torch that run code out of the recorder's sight (torch.utils, torch.library,
  torch.ops, torch.jit, torch.compile, CUDA graphs, multiprocessing, ...);
- private names (an attribute starting with `_`, outside the file's own classes) and
  the dunder walks that reach anything from anything (`__class__`, `__globals__`, ...);
- dynamic code and dynamic names: eval, exec, compile, getattr, setattr, vars,
  globals, __import__, open, and the typing helpers that eval strings;
- assigning attributes (monkeypatching) anywhere but on `self`/`cls`, and tensor
  methods that leave torch (`.numpy()`, `.tolist()`, `.apply_()`);
- a `__torch_function__` or `__torch_dispatch__` of the file's own.

A file that breaches the fence is not run; every check of its exercise fails with the
line and the rule. The fence is not the whole defence: the child's audit hook, its
namespaces and rlimits still stand behind it, and the rules measured from outside
(memory bounds, timing) never depended on it. docs/GRADING.md says what remains.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Top-level modules a graded file may import; a Triton exercise may also import triton.
ALLOWED_MODULES = frozenset({"torch", "math", "typing", "__future__", "functools", "itertools",
                             "dataclasses", "collections", "os", "grader"})
TRITON_MODULES = frozenset({"triton"})
ALLOWED_GRADER_MODULES = frozenset({"grader.contract"})

# Attribute names (on anything) that lead out of the recorder's sight: torch's
# extension points and code runners, CUDA graph replay, Triton's raw launch paths,
# tensors turned into other libraries' objects, per-element Python callbacks, and the
# typing helpers that evaluate strings as code.
DENIED_ATTRIBUTES = frozenset({
    "utils", "library", "ops", "overrides", "fx", "export", "compile", "compiler", "multiprocessing",
    "distributed", "profiler", "hub", "package", "graph", "graphs", "CUDAGraph", "make_graphed_callables",
    "runtime", "warmup", "run", "numpy", "tolist", "apply_", "map_", "map2_",
    "get_type_hints", "singledispatch", "singledispatchmethod", "ForwardRef",
})
# `jit` is fine as a decorator (@triton.jit); anywhere else it is torch.jit.
DECORATOR_ONLY_ATTRIBUTES = frozenset({"jit"})
# Dunders harmless to read (error messages, constructors); every other one is a walk.
ALLOWED_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__init__"})
DENIED_BUILTINS = frozenset({
    "eval", "exec", "compile", "getattr", "setattr", "delattr", "vars", "globals", "locals", "__import__",
    "open", "breakpoint", "input", "__builtins__", "__loader__", "__spec__",
})
DENIED_DEFINITIONS = frozenset({"__torch_function__", "__torch_dispatch__"})
OWN_OBJECTS = frozenset({"self", "cls"})  # attributes of the file's own classes are its business

WHY = ("the grader watches your torch calls to check the exercise's rules, so graded files use torch's "
       "public API and nothing that could hide work from it")


@dataclass(frozen=True)
class Breach:
    line: int
    what: str  # what the file does, as it would read it: "imports numpy"

    def describe(self, filename: str) -> str:
        return f"line {self.line} of {filename} {self.what}"


def allowed_imports(triton: bool) -> str:
    """The allowlist as a student reads it."""
    names = ["torch", "math", "typing", "functools", "itertools", "dataclasses", "collections", "os"]
    return ", ".join(names + (["triton"] if triton else [])) + " and grader.contract"


def _module_allowed(name: str, triton: bool) -> bool:
    top = name.split(".")[0]
    if top == "grader":
        return name in ALLOWED_GRADER_MODULES
    if top not in ALLOWED_MODULES and not (triton and top in TRITON_MODULES):
        return False
    return not any(part.startswith("_") or part in DENIED_ATTRIBUTES for part in name.split(".")[1:])


def _attribute_problem(name: str) -> str:
    """Why reading attribute ``name`` is refused ('' if it is not)."""
    if name.startswith("__") and name.endswith("__"):
        return "" if name in ALLOWED_DUNDERS else f"reads {name} (a walk to objects the file did not import)"
    if name.startswith("_"):
        return f"reads the private name {name}"
    if name in DENIED_ATTRIBUTES:
        return f"uses .{name} (it runs work out of the grader's sight)"
    return ""


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _own(node: ast.Attribute) -> bool:
    root = _root(node)
    return isinstance(root, ast.Name) and root.id in OWN_OBJECTS


class _Fence(ast.NodeVisitor):
    def __init__(self, triton: bool):
        self.triton = triton
        self.breaches: list[Breach] = []
        self.decorators: set[int] = set()  # ids of the nodes used as decorators

    def refuse(self, node: ast.AST, what: str) -> None:
        self.breaches.append(Breach(getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _module_allowed(alias.name, self.triton):
                self.refuse(node, f"imports {alias.name} (graded files import only {allowed_imports(self.triton)})")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _module_allowed(module, self.triton):
            name = "." * node.level + module
            self.refuse(node, f"imports from {name} (graded files import only {allowed_imports(self.triton)})")
            return
        for alias in node.names:
            problem = "imports * (name what you use)" if alias.name == "*" else _attribute_problem(alias.name)
            if problem:
                self.refuse(node, f"{problem.replace('reads', 'imports', 1)} from {module}")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in DENIED_BUILTINS:
            self.refuse(node, f"uses {node.id} (dynamic names and code hide what runs)")
        elif node.id in DENIED_DEFINITIONS and isinstance(node.ctx, ast.Store):
            self.refuse(node, f"defines {node.id} (it intercepts torch's calls)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not _own(node):
            problem = _attribute_problem(node.attr)
            if node.attr in DECORATOR_ONLY_ATTRIBUTES and id(node) not in self.decorators:
                problem = f"uses .{node.attr} other than as a decorator (@triton.jit)"
            if problem:
                self.refuse(node, problem)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and not _own(node):
            self.refuse(node, f"assigns the attribute .{node.attr} (only self.x / cls.x may be assigned: "
                              "changing what you imported is monkeypatching)")
        self.generic_visit(node)

    def _visit_definition(self, node) -> None:
        if node.name in DENIED_DEFINITIONS:
            self.refuse(node, f"defines {node.name} (it intercepts torch's calls)")
        for decorator in node.decorator_list:
            self.decorators.add(id(decorator.func if isinstance(decorator, ast.Call) else decorator))
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_definition


def breaches(source: str, *, triton: bool) -> list[Breach]:
    """Every place ``source`` leaves the fence, in line order. A file that does not
    parse has no breaches here: importing it reports the syntax error."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    fence = _Fence(triton)
    fence.visit(tree)
    return sorted(fence.breaches, key=lambda b: b.line)

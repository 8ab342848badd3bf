"""Print the calibration of ``challenge.similarity.THRESHOLD`` on the catalogue.

For every milestone: the similarity of each alternative to the reference,
with the share of the alternative's code lines that are literally lines of the
reference (a plain line count, independent of the fingerprints: 60% or more
means the alternative is the reference edited in one place, not an
independently written solution); a verbatim copy, a renamed and re-indented
copy, a disguised copy (renamed, reformatted, functions and methods in reverse
order, and idioms swapped: ``.mT``, ``** -0.5``, ``torch.where``, ``einsum``,
``.softmax``: what the copies of issue 24 did), and the stub. Then every reference against the references of the other
milestones (later milestones reuse earlier code, so those that build on one
another are high), and the margins of the threshold.

    python bench/similarity_calibration.py
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from challenge.similarity import THRESHOLD, reference_similarity  # noqa: E402

DERIVED_AT = 0.6  # share of literal reference lines from which an alternative counts as an edit of the reference


def code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def literal_share(alternative: str, reference: str) -> float:
    lines, known = code_lines(alternative), set(code_lines(reference))
    return sum(1 for line in lines if line in known) / max(1, len(lines))


def renamed(source: str) -> str:
    """Every local-looking name renamed and the indentation halved: what a copier does to hide."""
    names = sorted(set(re.findall(r"\b(scores|weights|mask|logits|hidden|attn|out|x|y|q|k|v)\b", source)))
    for index, name in enumerate(names):
        source = re.sub(rf"\b{name}\b", f"renamed_{index}", source)
    return source.replace("    ", "  ")


class _Swap(ast.NodeTransformer):
    """Equivalent idioms, the other way round from how the references mostly write them."""

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute):
            return node
        numbers = [a.value if isinstance(a, ast.Constant) else -a.operand.value
                   if isinstance(a, ast.UnaryOp) and isinstance(a.operand, ast.Constant) else None for a in node.args]
        if func.attr == "transpose" and sorted(n for n in numbers if n is not None) == [-2, -1] and len(numbers) == 2:
            return ast.Attribute(func.value, "mT", ast.Load())
        if func.attr == "masked_fill" and len(node.args) == 2:
            return ast.parse(f"torch.where(~({ast.unparse(node.args[0])}), {ast.unparse(func.value)}, "
                             f"{ast.unparse(node.args[1])})", mode="eval").body
        if func.attr == "softmax" and ast.unparse(func.value) in ("F", "torch") and node.args:
            dim = node.args[1:] or [k.value for k in node.keywords if k.arg == "dim"]
            return ast.Call(ast.Attribute(node.args[0], "softmax", ast.Load()), dim, [])
        if func.attr == "sqrt" and ast.unparse(func.value) == "math" and len(node.args) == 1:
            return ast.BinOp(node.args[0], ast.Pow(), ast.Constant(0.5))
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div) and isinstance(node.right, ast.BinOp) and isinstance(node.right.op, ast.Pow):
            return ast.BinOp(node.left, ast.Mult(), ast.BinOp(node.right.left, ast.Pow(), ast.Constant(-0.5)))
        if isinstance(node.op, ast.MatMult):
            right = node.right
            if isinstance(right, ast.Attribute) and right.attr == "mT":
                return ast.parse(f"torch.einsum('...ij,...kj->...ik', {ast.unparse(node.left)}, "
                                 f"{ast.unparse(right.value)})", mode="eval").body
            return ast.parse(f"torch.einsum('...ij,...jk->...ik', {ast.unparse(node.left)}, {ast.unparse(right)})",
                             mode="eval").body
        return node


def _reverse_definitions(node: ast.AST) -> None:
    body = getattr(node, "body", None)
    if not isinstance(body, list):
        return
    definitions = [i for i, s in enumerate(body) if isinstance(s, (ast.FunctionDef, ast.ClassDef))]
    for i, statement in zip(definitions, [body[i] for i in reversed(definitions)]):
        body[i] = statement
    for statement in body:
        if isinstance(statement, ast.ClassDef):
            _reverse_definitions(statement)


def _touches(statement: ast.stmt) -> set[str]:
    return {ast.unparse(n) for n in ast.walk(statement) if isinstance(n, (ast.Name, ast.Attribute))}


def _swap_independent(node: ast.AST) -> None:
    """Swap neighbouring assignments that share no name (self.q = ...; self.k = ...): a legal reordering."""
    for field in ("body", "orelse"):
        body = getattr(node, field, None)
        if not isinstance(body, list):
            continue
        i = 0
        while i + 1 < len(body):
            a, b = body[i], body[i + 1]
            if isinstance(a, ast.Assign) and isinstance(b, ast.Assign) and not _touches(a) & _touches(b):
                body[i], body[i + 1] = b, a
                i += 2
            else:
                i += 1
        for statement in body:
            _swap_independent(statement)


def _strip_annotations(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None


def disguised(source: str) -> str:
    """A working copy dressed up: idioms swapped, definitions reversed, independent statements swapped, type
    annotations dropped, names changed, reformatted."""
    tree = ast.parse(source)
    tree = ast.fix_missing_locations(_Swap().visit(tree))
    _reverse_definitions(tree)
    _swap_independent(tree)
    _strip_annotations(tree)
    return renamed(ast.unparse(tree)).replace("  ", "\t")


def main() -> None:
    folders = sorted(p for p in (ROOT / "milestones").iterdir() if (p / "reference.py").is_file())
    independent, derived, disguises = [], [], []
    print(f"threshold {THRESHOLD:.2f}\n")
    print(f"{'milestone':18} {'alternative':36} {'similarity':>10} {'literal lines':>14}  kind")
    for folder in folders:
        reference = (folder / "reference.py").read_text(encoding="utf-8")
        for path in sorted((folder / "alternatives").glob("*.py")):
            source = path.read_text(encoding="utf-8")
            score, share = reference_similarity(source, folder), literal_share(source, reference)
            kind = "derived" if share >= DERIVED_AT else "independent"
            (derived if kind == "derived" else independent).append((score, f"{folder.name}/{path.stem}"))
            print(f"{folder.name:18} {path.stem:36} {score:10.2f} {share:14.0%}  {kind}")
        for label, source in (("(verbatim copy)", reference), ("(renamed copy)", renamed(reference)),
                              ("(disguised copy)", disguised(reference)),
                              ("(stub)", (folder / "stub.py").read_text(encoding="utf-8"))):
            score = reference_similarity(source, folder)
            if label == "(disguised copy)":
                disguises.append((score, folder.name))
            print(f"{folder.name:18} {label:36} {score:10.2f}")
    print("\nreferences of other milestones (row: the milestone compared with; column: the file)")
    print(" " * 6 + " ".join(f"{f.name[:5]:>5}" for f in folders))
    for folder in folders:
        cells = [reference_similarity((other / "reference.py").read_text(encoding="utf-8"), folder)
                 for other in folders]
        print(f"{folder.name[:5]:5} " + " ".join(f"{c:5.2f}" for c in cells))
    top, low = max(independent), min(derived) if derived else (1.0, "-")
    print(f"\nhighest independent alternative {top[0]:.2f} ({top[1]}): margin {THRESHOLD - top[0]:.2f} below the "
          f"threshold {THRESHOLD:.2f}")
    print(f"lowest derived alternative {low[0]:.2f} ({low[1]}): {low[0] - THRESHOLD:.2f} above it")
    worst = min(disguises)
    print(f"lowest disguised copy {worst[0]:.2f} ({worst[1]}): {worst[0] - THRESHOLD:.2f} above the threshold "
          f"({sum(1 for s, _ in disguises if s >= THRESHOLD)}/{len(disguises)} flagged)")


if __name__ == "__main__":
    main()

"""Build the prompt for one table: role, task, requirements, context, patterns, examples, format.

Layered as in the design research (§10): templates in `prompts/` per layer and per task, few-shot
exemplars from `examples/fewshot/` and from the repo's own filled modules, picked by BM25
similarity to the table at hand. The prompt is kept under a token budget (estimated at 4
characters a token, since tokenizer downloads are not possible everywhere).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rank_bm25 import BM25Okapi

from lakeforge.tables import TablesFile, TableSpec
from scaffolder.resources import examples_dir, prompts_dir
from scaffolder.stubs import is_stub, signature, stub_module

CHARS_PER_TOKEN = 4
_WORD = re.compile(r"[a-z0-9]+")


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Exemplar:
    name: str
    layer: str
    text: str
    source: str  # "library" or "repo"

    @property
    def tokens(self) -> list[str]:
        return _WORD.findall(self.text.lower())


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]
    tokens: int
    exemplars: list[str]

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.messages, sort_keys=True).encode()).hexdigest()


class PromptBuilder:
    def __init__(self, root: Path, package: str, tables: TablesFile, budget: int = 4000) -> None:
        self.root = root
        self.package = package
        self.tables = tables
        self.budget = budget
        self.env = Environment(
            loader=FileSystemLoader(prompts_dir()), undefined=StrictUndefined, keep_trailing_newline=True
        )
        self.library = _load_library(examples_dir() / "fewshot")

    def _render(self, name: str, **context: object) -> str:
        return self.env.get_template(name).render(**context).strip() + "\n"

    def repo_exemplars(self, spec: TableSpec) -> list[Exemplar]:
        """The team's own filled modules of the same layer: their style is the one to imitate."""
        found = []
        for other in self.tables.layer(spec.layer):
            if other.name == spec.name:
                continue
            module = self.root / other.module_path(self.package)
            test = self.root / other.test_path()
            if module.is_file() and not is_stub(module.read_text()):
                text = f"{other.module_path(self.package)}\n```python\n{module.read_text()}```\n"
                if test.is_file():
                    text += f"\n{other.test_path()}\n```python\n{test.read_text()}```\n"
                found.append(Exemplar(other.name, other.layer, text, "repo"))
        return found

    def pick_exemplars(self, spec: TableSpec) -> list[Exemplar]:
        """The most similar of the repo's own tables (one) and of the library (two), never the same twice.

        A repo made from the template holds the library's own examples (`raw_orders`, ...): a
        library exemplar of a table the repo already shows is left out.
        """
        query = _WORD.findall(" ".join([spec.layer, spec.name, spec.description, *spec.column_names()]).lower())
        picked = _most_similar(self.repo_exemplars(spec), query, 1)
        shown = {e.name for e in picked}
        library = [e for e in self.library if e.layer == spec.layer and e.name not in shown]
        picked += _most_similar(library, query, 2)
        return picked

    def context(self, spec: TableSpec) -> str:
        entry = spec.model_dump(by_alias=True, exclude_defaults=True, exclude={"monitors"})
        parts = [
            "## Context",
            "The table in tables.yml:",
            "```yaml",
            yaml.safe_dump(entry, sort_keys=False).strip(),
            "```",
        ]
        for name in spec.inputs:
            upstream = self.tables.get(name)
            columns = ", ".join(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in upstream.schema_)
            parts.append(f"Input `{name}` ({upstream.layer}) columns: {columns}")
        profile = self.root / ".scaffold" / "profiles" / f"{spec.name}.json"
        if profile.is_file():
            parts.append(f"Profiling statistics:\n```json\n{profile.read_text().strip()}\n```")
        parts += [
            "The stub to fill:",
            f"{spec.module_path(self.package)}",
            "```python",
            stub_module(spec).strip(),
            "```",
        ]
        return "\n".join(parts) + "\n"

    def build(self, spec: TableSpec) -> Prompt:
        paths = {"module_path": spec.module_path(self.package), "test_path": spec.test_path()}
        system = self._render("system.md")
        fixed = [
            self._render(f"{spec.layer}.md", spec=spec),
            self._render("common.md", signature=signature(spec)),
            self.context(spec),
            self._render("tests.md", spec=spec, **paths),
        ]
        output = self._render("output.md", **paths)
        exemplars = self.pick_exemplars(spec)
        while True:
            examples = ""
            if exemplars:
                examples = "## Examples\n" + "\n".join(
                    f"### Example: {e.name} ({'this repo' if e.source == 'repo' else 'library'})\n{e.text}"
                    for e in exemplars
                )
            user = "\n".join([*fixed, examples, output])
            tokens = estimate_tokens(system) + estimate_tokens(user)
            if tokens <= self.budget or not exemplars:
                break
            exemplars = exemplars[:-1]  # drop the least similar example until the prompt fits
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return Prompt(messages, tokens, [f"{e.source}:{e.name}" for e in exemplars])

    def more_tests(
        self,
        spec: TableSpec,
        module: str,
        tests: str,
        survivors: list[str],
        missing: list[tuple[int, str]],
        new_test_path: str,
        dropped: dict[str, str] | None = None,
    ) -> Prompt:
        """The testing agent's prompt: the finished module, its tests, and what they do not prove."""
        paths = {"new_test_path": new_test_path, "test_path": spec.test_path()}
        user = "\n".join(
            [
                self._render(
                    "test_agent.md",
                    spec=spec,
                    module=module.rstrip(),
                    tests=tests.rstrip() or "# (none yet)",
                    survivors=survivors,
                    missing=[{"number": n, "code": code} for n, code in missing],
                    dropped=dropped or {},
                    module_path=spec.module_path(self.package),
                    **paths,
                ),
                self._render(
                    "tests.md", spec=spec, test_path=new_test_path, module_path=spec.module_path(self.package)
                ),
                self._render("test_agent_output.md", **paths),
            ]
        )
        system = self._render("system.md")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return Prompt(messages, estimate_tokens(system) + estimate_tokens(user), [])

    def repair(
        self,
        prompt: Prompt,
        spec: TableSpec,
        reply: str,
        attempt: int,
        max_attempts: int,
        errors: list[str],
        files: list[str] | None = None,
    ) -> Prompt:
        """The conversation so far, the model's last reply, and the errors it must fix."""
        text = self._render(
            "repair.md",
            attempt=attempt,
            max_attempts=max_attempts,
            errors=errors[:30],
            files=files or [spec.module_path(self.package), spec.test_path()],
        )
        messages = [
            *prompt.messages[:2],
            {"role": "assistant", "content": reply[:20_000] or "(empty reply)"},
            {"role": "user", "content": text},
        ]
        return Prompt(messages, sum(estimate_tokens(m["content"]) for m in messages), prompt.exemplars)


def _most_similar(pool: list[Exemplar], query: list[str], limit: int) -> list[Exemplar]:
    if not pool:
        return []
    scores = BM25Okapi([e.tokens for e in pool]).get_scores(query)
    ranked = sorted(zip(scores, range(len(pool)), pool, strict=True), key=lambda t: (-t[0], t[1]))
    return [e for _, _, e in ranked[:limit]]


def _load_library(folder: Path) -> list[Exemplar]:
    exemplars = []
    for path in sorted(folder.glob("*.md")):
        if "_" not in path.stem or path.name == "README.md":
            continue
        layer, name = path.stem.split("_", 1)
        exemplars.append(Exemplar(name, layer, path.read_text(encoding="utf-8"), "library"))
    return exemplars

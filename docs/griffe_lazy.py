"""A griffe extension: the names a package serves lazily (through a module `__getattr__`
and a `{name: module}` table) become documented members, so the API reference can name
`seqlm.load` and `seqlm.TrainConfig` as users write them, wherever the code behind them
lives."""

from __future__ import annotations

import ast

import griffe


def _lazy_table(module: griffe.Module) -> dict[str, str]:
    """The module's `{name: "package.module"}` table, if it has one."""
    for member in module.members.values():
        if member.is_alias or not member.is_attribute or member.value is None:
            continue
        try:
            table = ast.literal_eval(str(member.value))
        except (ValueError, SyntaxError):
            continue
        root = module.path.split(".")[0] + "."
        if (
            isinstance(table, dict)
            and table
            and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
            and all(v.startswith(root) for v in table.values())
        ):
            return table
    return {}


class LazyExports(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        modules = [pkg]
        while modules:
            module = modules.pop()
            modules.extend(m for m in module.modules.values() if not m.is_alias)
            for name, target in _lazy_table(module).items():
                if name not in module.members:
                    module.set_member(name, griffe.Alias(name, f"{target}.{name}", parent=module))

"""Reading policy YAML files: text encoding, duplicate keys and YAML syntax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from policy.config import PolicyError


class PolicyYamlLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping.

    PyYAML's own loaders keep the last value of a repeated key, so a policy
    with two ``max_balance`` lines would load without a word.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _reject_duplicate_keys(node, "")
        return self.construct_document(node)


def _reject_duplicate_keys(node: Node, path: str) -> None:
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(item, f"{path}[{index}]")
        return
    if not isinstance(node, MappingNode):
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        # "<<" is YAML's merge key; the loader resolves it and may meet it more than once.
        if key == "<<":
            continue
        key_path = f"{path}.{key}" if path else key
        if key in seen:
            raise ConstructorError(
                None,
                None,
                f"duplicate key {key_path} (first given on line {seen[key] + 1}); keep one of the two",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
        _reject_duplicate_keys(value_node, key_path)


def parse_policy_yaml(text: str) -> Any:
    """Load one YAML document with :class:`PolicyYamlLoader`; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=PolicyYamlLoader)  # noqa: S506 - a SafeLoader subclass


def read_policy_document(path: Path) -> Any:
    """Read and load the YAML document at ``path``.

    Raises :class:`PolicyError` with a message that names the file when it
    cannot be read, is not UTF-8 text or is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(
            f"cannot read policy file {path}: {error.strerror}; give the path of a policy YAML file"
        ) from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text; save the policy file as UTF-8") from None
    try:
        return parse_policy_yaml(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path} is not valid YAML: {error}") from None

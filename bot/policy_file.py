"""Reading policy YAML files: text encoding, duplicate keys and YAML syntax."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policy.config import PolicyError


INTEGER_TAG = "tag:yaml.org,2002:int"
PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)", re.ASCII)


class PolicyYamlLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping and non-decimal integers.

    PyYAML's own loaders keep the last value of a repeated key, so a policy
    with two ``max_balance`` lines would load silently. They also read
    YAML 1.1 integer forms, so ``grace_days: 010`` would be octal 8.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_nodes(node, "")
        return self.construct_document(node)


def _check_nodes(node: Node, path: str) -> None:
    if isinstance(node, ScalarNode):
        if node.tag == INTEGER_TAG and not PLAIN_INTEGER.fullmatch(node.value):
            raise ConstructorError(
                None,
                None,
                f"{path or 'the document'} is {node.value}, which YAML reads as an octal, hexadecimal, binary or "
                "base-60 integer; write it in decimal digits without a leading zero",
                node.start_mark,
            )
        return
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, f"{path}[{index}]")
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
        _check_nodes(value_node, key_path)


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

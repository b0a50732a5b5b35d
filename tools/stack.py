"""A deployed environment's resource names, for the operations tools.

Names come from terraform/topology.json and environments/<env>.tfvars.json (as Terraform
derives them), with the AWS account taken from the caller's identity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from stack import topology
from tributary import aws


@dataclass(frozen=True)
class Stack:
    environment: str
    account_id: str
    names: dict[str, str]
    function_names: dict[str, str]

    def name(self, logical: str) -> str:
        try:
            return self.names[logical]
        except KeyError:
            raise SystemExit(f"{logical!r} is not a resource of the stack (terraform/topology.json)") from None

    def queue_url(self, logical: str, dead_letter: bool = False) -> str:
        name = self.name(logical) + ("-dlq" if dead_letter else "")
        return aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=self.account_id)["QueueUrl"]


def resolve(environment: str, account_id: str | None = None) -> Stack:
    """The environment's names in the caller's account (or ``account_id``)."""
    account = account_id or aws.client("sts").get_caller_identity()["Account"]
    loaded = topology.load(environment)
    variables = {**loaded.names, "account_id": account}
    spec = json.loads((topology.TERRAFORM / "topology.json").read_text())["resources"]
    names = {logical: topology.render(resource["name"], variables) for logical, resource in spec.items()}
    return Stack(environment, account, names, dict(loaded.function_names))

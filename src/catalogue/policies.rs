//! Access policies: rules on six axes (time window, source, rate cap, co-sign, TTL,
//! rotate-after) that a group's owners and admins bind to its secrets, keyrings and keys.
//! They are enforced on every use by an app or machine (see `service::policies`).

use super::{Operation, delete, get, patch, post, put};

pub const CREATE_POLICY: Operation = post("/v1/policies")
    .summary("Create an access policy in a group")
    .needs(&["policy.write"], "policy.create")
    .takes("CreatePolicy")
    .created("Policy");

pub const LIST_POLICIES: Operation = get("/v1/policies")
    .summary("List access policies (of one group with ?group=)")
    .needs(&["policy.read"], "policy.list")
    .gives("PolicyList");

pub const GET_POLICY: Operation = get("/v1/policies/{id}")
    .summary("Read an access policy")
    .needs(&["policy.read"], "policy.read")
    .gives("Policy");

pub const UPDATE_POLICY: Operation = patch("/v1/policies/{id}")
    .summary("Change an access policy (an axis set to null is removed)")
    .needs(&["policy.write"], "policy.update")
    .exchanges("PatchPolicy", "Policy");

pub const DELETE_POLICY: Operation = delete("/v1/policies/{id}")
    .summary("Delete an access policy with its bindings and counters")
    .needs(&["policy.write"], "policy.delete")
    .status(204);

pub const LIST_POLICY_BINDINGS: Operation = get("/v1/policies/{id}/bindings")
    .summary("List the objects a policy is bound to")
    .needs(&["policy.read"], "policy.bindings.read")
    .gives("PolicyBindingList");

pub const BIND_POLICY: Operation = put("/v1/policies/{id}/bindings/{kind}/{object}")
    .summary("Bind a policy to a secret, keyring or key of its group")
    .needs(&["policy.write"], "policy.bind")
    .gives("PolicyBinding");

pub const UNBIND_POLICY: Operation = delete("/v1/policies/{id}/bindings/{kind}/{object}")
    .summary("Unbind a policy from an object")
    .needs(&["policy.write"], "policy.unbind")
    .status(204);

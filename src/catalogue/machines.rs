//! Machines: enrolment tokens, provisioning, registration and lifecycle.

use super::Method::{Delete, Get, Post};
use super::Operation;

pub const CREATE_MACHINE_TOKEN: Operation = Operation::new(
    Post,
    "/v1/machine-tokens",
    "Issue a bootstrap, enrollment or temporary machine token (shown once)",
)
.flags(&["machine.write"])
.audited_as("machine.token.create")
.request("CreateMachineToken")
.response("MachineTokenIssued")
.status(201);

pub const LIST_MACHINE_TOKENS: Operation = Operation::new(
    Get,
    "/v1/machine-tokens",
    "List the account's machine tokens",
)
.flags(&["machine.read"])
.audited_as("machine.token.list")
.response("MachineTokenList");

pub const DISABLE_MACHINE_TOKEN: Operation =
    Operation::new(Delete, "/v1/machine-tokens/{id}", "Disable a machine token")
        .flags(&["machine.write"])
        .audited_as("machine.token.disable")
        .status(204);

pub const PROVISION_MACHINE: Operation = Operation::new(
    Post,
    "/v1/machines",
    "Provision an approved machine; its key pair leaves only in a single-use bundle",
)
.flags(&["machine.write"])
.audited_as("machine.provision")
.request("ProvisionMachine")
.response("ProvisionedMachine")
.status(201);

pub const LIST_MACHINES: Operation = Operation::new(Get, "/v1/machines", "List machines")
    .flags(&["machine.read"])
    .audited_as("machine.list")
    .response("MachineList");

pub const REGISTER_MACHINE: Operation = Operation::new(
    Post,
    "/v1/machines/register",
    "Register a machine's public key with a machine token (no other credential)",
)
.audited_as("machine.register")
.request("RegisterMachine")
.response("Machine")
.status(201);

pub const DOWNLOAD_BUNDLE: Operation = Operation::new(
    Post,
    "/v1/machines/bundle",
    "Download a provisioned machine's bundle, once (the bundle token is the credential)",
)
.audited_as("machine.bundle.download")
.request("BundleDownload")
.response("MachineBundle");

pub const GET_MACHINE: Operation = Operation::new(Get, "/v1/machines/{id}", "A machine")
    .flags(&["machine.read"])
    .audited_as("machine.read")
    .response("Machine");

pub const DELETE_MACHINE: Operation =
    Operation::new(Delete, "/v1/machines/{id}", "Delete a machine and its app")
        .flags(&["machine.write"])
        .audited_as("machine.delete")
        .status(204);

pub const APPROVE_MACHINE: Operation = Operation::new(
    Post,
    "/v1/machines/{id}/approve",
    "Approve a pending machine",
)
.flags(&["machine.write"])
.audited_as("machine.approve")
.response("Machine");

pub const DISABLE_MACHINE: Operation = Operation::new(
    Post,
    "/v1/machines/{id}/disable",
    "Disable a machine (effective on its next request)",
)
.flags(&["machine.write"])
.audited_as("machine.disable")
.response("Machine");

pub const ENABLE_MACHINE: Operation =
    Operation::new(Post, "/v1/machines/{id}/enable", "Enable a machine")
        .flags(&["machine.write"])
        .audited_as("machine.enable")
        .response("Machine");

pub const EXTEND_MACHINE: Operation = Operation::new(
    Post,
    "/v1/machines/{id}/extend",
    "Extend a machine's expiry (at most twelve months from now)",
)
.flags(&["machine.write"])
.audited_as("machine.extend")
.request("ExtendMachine")
.response("Machine");

pub const REVERT_MACHINE_EXTENSION: Operation = Operation::new(
    Post,
    "/v1/machines/{id}/revert-extension",
    "Revert a machine's last extension",
)
.flags(&["machine.write"])
.audited_as("machine.extension.revert")
.response("Machine");

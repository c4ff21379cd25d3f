//! One-time shares: a user seals a value for one recipient without an account, who opens it
//! once with a passphrase (the page at `/s/{id}` or the JSON route).

use super::{Operation, delete, get, post};
use crate::authz::Operation::ManageObjects;

pub const CREATE_SHARE: Operation = post("/v1/shares")
    .summary("Share a value once: answers the share id and its passphrase, shown once")
    .needs(&["share.create"], "share.create")
    .in_group(&[ManageObjects])
    .takes("CreateShare")
    .created("CreatedShare");

pub const LIST_SHARES: Operation = get("/v1/shares")
    .summary("List the account's live shares (metadata only)")
    .needs(&["share.read"], "share.list")
    .gives("ShareList");

pub const DELETE_SHARE: Operation = delete("/v1/shares/{id}")
    .summary("Destroy a share before it is opened")
    .needs(&["share.delete"], "share.delete")
    .in_group(&[ManageObjects])
    .status(204);

/// No credential: the passphrase in the body is what opens it. A wrong one destroys it.
pub const OPEN_SHARE: Operation = post("/v1/shares/{id}/open")
    .summary("Open a share once with its passphrase; the share is destroyed")
    .audited_as("share.open")
    .exchanges("OpenShare", "OpenedShare");

/// The recipient's page: a passphrase form that posts to [`OPEN_SHARE`] (HTML).
pub const SHARE_PAGE: Operation = get("/s/{id}")
    .summary("The page where a recipient opens a share (HTML)")
    .audited_as("share.page");

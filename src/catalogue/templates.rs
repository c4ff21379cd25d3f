//! Permission templates: named bundles of capabilities assigned to members; editing and
//! assigning them is for owners only (docs/templates.md).

use super::{Operation, delete, get, patch, post, put};

pub const LIST_TEMPLATES: Operation = get("/v1/templates")
    .summary("List the permission templates: the four built-ins, then the account's own")
    .needs(&["template.read"], "template.list")
    .gives("TemplateList");

pub const CREATE_TEMPLATE: Operation = post("/v1/templates")
    .summary("Create a permission template (owners only)")
    .needs(&["template.write"], "template.create")
    .takes("CreateTemplate")
    .created("Template");

pub const GET_TEMPLATE: Operation = get("/v1/templates/{id}")
    .summary("Show a permission template with the flags of its capabilities")
    .needs(&["template.read"], "template.read")
    .gives("Template");

pub const UPDATE_TEMPLATE: Operation = patch("/v1/templates/{id}")
    .summary("Change a permission template (owners only; built-ins are read-only); every holder has it on their next request")
    .needs(&["template.write"], "template.update")
    .exchanges("PatchTemplate", "Template");

pub const DELETE_TEMPLATE: Operation = delete("/v1/templates/{id}")
    .summary("Delete a permission template nobody holds (owners only)")
    .needs(&["template.write"], "template.delete")
    .status(204);

pub const ASSIGN_TEMPLATE: Operation = put("/v1/users/{id}/template")
    .summary("Give a member a template and its group scope (owners only)")
    .needs(&["template.write"], "template.assign")
    .exchanges("AssignTemplate", "Assignment");

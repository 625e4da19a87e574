//! Checking a `[changes]` section and compiling it into [`RecordWrites`].

use support_access_core::change::SystemFields;

use super::{ChangesFile, IdsFile, RecordWrites, WriteOperation, WriteRoute};
use crate::policy::PolicyError;

const METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// Compiles `[changes]`; the error names the key at fault.
pub fn compile(file: &ChangesFile) -> Result<RecordWrites, PolicyError> {
    let read = template(&file.read, "changes.read")?;
    for needed in ["{module}", "{id}"] {
        if !read.iter().any(|s| s == needed) {
            return Err(invalid("changes.read", format!("must hold {needed}")));
        }
    }
    if !crate::policy::is_version_segment(&file.version) {
        return Err(invalid(
            "changes.version",
            "must be a version segment like v8",
        ));
    }
    let mut writes = Vec::new();
    for (index, write) in file.writes.iter().enumerate() {
        let at = format!("changes.write[{index}]");
        let method = write.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid(
                &at,
                format!("method '{}' writes nothing", write.method),
            ));
        }
        let segments = template(&write.path, &at)?;
        if !segments.iter().any(|s| s == "{module}") {
            return Err(invalid(&at, "the path must hold {module}"));
        }
        let has_id = segments.iter().any(|s| s == "{id}");
        match (&write.ids, write.operation) {
            (IdsFile::Path, _) if !has_id => {
                return Err(invalid(&at, "ids from the path need {id} in the path"));
            }
            (IdsFile::Answer { .. }, WriteOperation::Update | WriteOperation::Delete) => {
                return Err(invalid(&at, "only a create names its ids in the answer"));
            }
            (
                IdsFile::Path | IdsFile::Body { .. } | IdsFile::Query { .. },
                WriteOperation::Create,
            ) => {
                return Err(invalid(&at, "a create's ids come from the answer"));
            }
            _ => {}
        }
        writes.push(WriteRoute {
            method,
            segments,
            operation: write.operation,
            ids: write.ids.clone(),
        });
    }
    let composite = match &file.composite {
        Some(composite) => Some((
            template(&composite.path, "changes.composite.path")?,
            composite.clone(),
        )),
        None => None,
    };
    Ok(RecordWrites {
        read,
        version: file.version.clone(),
        read_concurrency: file.read_concurrency.max(1),
        record_array: file.record_array.clone(),
        absent_statuses: file.absent_statuses.clone(),
        absent_codes: file.absent_codes.clone(),
        system: SystemFields::new(&file.system_fields, &file.system_prefixes),
        not_modules: file.not_modules.clone(),
        not_records: file.not_records.clone(),
        composite,
        writes,
    })
}

/// The segments of a template: literals lower-cased, `v{N}`, `{module}`, `{id}`.
fn template(path: &str, at: &str) -> Result<Vec<String>, PolicyError> {
    if !path.starts_with('/') {
        return Err(invalid(at, format!("'{path}' must start with '/'")));
    }
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| match segment {
            "v{N}" | "{module}" | "{id}" => Ok(segment.to_owned()),
            s if s.contains('{') || s.contains('}') => Err(invalid(
                at,
                format!("'{s}': only v{{N}}, {{module}} and {{id}} are parameters"),
            )),
            s => Ok(s.to_ascii_lowercase()),
        })
        .collect()
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

//! OpenAPI schemas of the model's JSON forms (feature `openapi`).
//!
//! The model's types derive [`utoipa::ToSchema`] under this feature, so a
//! server that documents its HTTP API describes them from the Rust types
//! themselves, as `monitor-server`'s `/api/openapi.json` does. The few types
//! with a serde form of their own (an instant, a server id, labels, a unit,
//! the wire version) have their schema written here, beside the patterns
//! that say what the model accepts.
//!
//! ```
//! use monitor_core::Snapshot;
//! use utoipa::{PartialSchema, ToSchema};
//!
//! assert_eq!(Snapshot::name(), "Snapshot");
//! let schema = serde_json::to_value(Snapshot::schema()).unwrap();
//! assert_eq!(schema["properties"]["server_id"]["$ref"], "#/components/schemas/ServerId");
//! ```

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::model::{
    Labels, MAX_SERVER_ID_LEN, ServerId, Timestamp, Unit, WIRE_VERSION, WireVersion,
};

/// What [`ServerId::new`] accepts.
pub const SERVER_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A metric or label name ([`crate::model::is_valid_name`]).
pub const NAME_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_]{0,127}$";

/// Text without control or invisible formatting characters (the common
/// ones of [`crate::model::is_safe_text`]).
pub const VISIBLE_TEXT_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff]*$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A metric or label name: [`NAME_PATTERN`].
pub fn name() -> ObjectBuilder {
    string().pattern(Some(NAME_PATTERN)).description(Some(
        "A metric or label name (Prometheus's rule without the colon).",
    ))
}

/// A label value: at most 255 bytes of visible text.
pub fn label_value() -> ObjectBuilder {
    string()
        .max_length(Some(crate::model::MAX_LABEL_VALUE_LEN))
        .pattern(Some(VISIBLE_TEXT_PATTERN))
}

/// A rule's name: 1 to 200 bytes of visible text.
pub fn rule_name() -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(crate::alert::MAX_RULE_NAME_LEN))
        .pattern(Some(VISIBLE_TEXT_PATTERN))
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "An instant: RFC 3339 text in UTC with milliseconds as the server writes it; \
                 Unix seconds (a number) are accepted too.",
            ))
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

impl PartialSchema for ServerId {
    fn schema() -> RefOr<Schema> {
        string()
            .pattern(Some(SERVER_ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(MAX_SERVER_ID_LEN))
            .description(Some(
                "1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.",
            ))
            .into()
    }
}

impl ToSchema for ServerId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ServerId")
    }
}

impl PartialSchema for Labels {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(name()))
            .additional_properties(Some(label_value()))
            .description(Some(
                "Label name → value; an empty object is the machine-wide series.",
            ))
            .into()
    }
}

impl ToSchema for Labels {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Labels")
    }
}

impl PartialSchema for Unit {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(
                "`bytes`, `percent`, `seconds`, `bytes_per_second`, `count`, empty \
                 (dimensionless) or a plugin's own word.",
            ))
            .into()
    }
}

impl ToSchema for Unit {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Unit")
    }
}

impl PartialSchema for WireVersion {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([WIRE_VERSION]))
            .description(Some("The wire format's version (docs/wire-format.md)."))
            .into()
    }
}

impl ToSchema for WireVersion {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WireVersion")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::alert::AlertRule;
    use crate::model::Snapshot;
    use serde_json::Value;

    fn json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn the_patterns_accept_what_the_model_accepts() {
        // (The patterns are checked by hand here: the crate links no regex engine.)
        assert!(ServerId::new("a".repeat(MAX_SERVER_ID_LEN)).is_ok());
        assert!(ServerId::new("a".repeat(MAX_SERVER_ID_LEN + 1)).is_err());
        assert!(SERVER_ID_PATTERN.ends_with("{0,63}$"));
        assert!(NAME_PATTERN.ends_with("{0,127}$"));
        assert_eq!(crate::model::MAX_NAME_LEN, 128);
    }

    #[test]
    fn the_types_with_a_serde_form_of_their_own_say_so() {
        assert_eq!(json::<Timestamp>()["oneOf"][0]["format"], "date-time");
        assert_eq!(json::<ServerId>()["pattern"], SERVER_ID_PATTERN);
        assert_eq!(json::<Labels>()["additionalProperties"]["type"], "string");
        assert_eq!(json::<WireVersion>()["enum"][0], WIRE_VERSION);
    }

    #[test]
    fn derived_schemas_keep_serde_names_and_defaults() {
        let snapshot = json::<Snapshot>();
        let required = snapshot["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("server_id")));
        assert!(!required.contains(&Value::from("host")));
        let rule = json::<AlertRule>();
        assert_eq!(rule["properties"]["enabled"]["default"], true);
        assert_eq!(
            rule["properties"]["op"]["$ref"],
            "#/components/schemas/Comparison"
        );
    }
}

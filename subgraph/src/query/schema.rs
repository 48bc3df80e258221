//! The upstream SDL (`subgraph/upstream.graphql`) as the query language's single source of
//! truth.
//!
//! The sync's cynic queries are compiled against the same file, so the planner parses it once
//! and checks every query against it: field names, argument names, argument and variable types.
//! A field added there without a resolver is answered with graph-node's "not yet implemented"
//! error, and the simulator's integration tests walk the whole SDL to prove there is none.

use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql_parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use async_graphql_value::ConstValue;

/// The upstream SDL text, as checked in.
pub use crate::SDL;

/// The GraphQL types the SDL declares (plus the built-in scalars).
#[derive(Debug, Default)]
pub struct Schema {
    types: HashMap<String, TypeDef>,
    /// The root query type's name.
    pub query_type: String,
}

/// One named type.
#[derive(Debug)]
pub enum TypeDef {
    Scalar,
    Object(Vec<FieldDef>),
    Enum(Vec<String>),
    InputObject(Vec<InputDef>),
}

/// A field of an object type.
#[derive(Debug)]
pub struct FieldDef {
    pub name: String,
    pub ty: Type,
    pub args: Vec<InputDef>,
}

/// An argument of a field, or a field of an input object.
#[derive(Debug)]
pub struct InputDef {
    pub name: String,
    pub ty: Type,
    pub default: Option<ConstValue>,
}

const BUILT_IN_SCALARS: [&str; 5] = ["Int", "Float", "String", "Boolean", "ID"];

/// The parsed upstream SDL, parsed on first use. A broken file (which the tests would catch)
/// gives an empty schema and a logged error rather than a crash: every query is then refused.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::parse(SDL).unwrap_or_else(|e| {
            tracing::error!("subgraph/upstream.graphql does not parse: {e}");
            Schema::default()
        })
    })
}

impl Schema {
    /// Parses SDL text. Only the kinds graph-node's API schema uses are accepted.
    pub fn parse(sdl: &str) -> Result<Schema, String> {
        let doc = async_graphql_parser::parse_schema(sdl).map_err(|e| e.to_string())?;
        let mut schema = Schema {
            query_type: "Query".to_owned(),
            ..Schema::default()
        };
        for name in BUILT_IN_SCALARS {
            schema.types.insert(name.to_owned(), TypeDef::Scalar);
        }
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    if let Some(q) = s.node.query {
                        schema.query_type = q.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(t) => {
                    let t = t.node;
                    let name = t.name.node.to_string();
                    let def = match t.kind {
                        TypeKind::Scalar => TypeDef::Scalar,
                        TypeKind::Object(o) => TypeDef::Object(
                            o.fields
                                .into_iter()
                                .map(|f| FieldDef {
                                    name: f.node.name.node.to_string(),
                                    ty: f.node.ty.node,
                                    args: f.node.arguments.into_iter().map(input_def).collect(),
                                })
                                .collect(),
                        ),
                        TypeKind::Enum(e) => TypeDef::Enum(
                            e.values
                                .into_iter()
                                .map(|v| v.node.value.node.to_string())
                                .collect(),
                        ),
                        TypeKind::InputObject(i) => {
                            TypeDef::InputObject(i.fields.into_iter().map(input_def).collect())
                        }
                        TypeKind::Interface(_) | TypeKind::Union(_) => {
                            return Err(format!("type {name}: interfaces and unions are not used"))
                        }
                    };
                    schema.types.insert(name, def);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        if !matches!(
            schema.types.get(&schema.query_type),
            Some(TypeDef::Object(_))
        ) {
            return Err(format!("no object type {}", schema.query_type));
        }
        Ok(schema)
    }

    /// The named type `name`.
    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// The field `field` of object type `ty`.
    pub fn field(&self, ty: &str, field: &str) -> Option<&FieldDef> {
        self.object_fields(ty).iter().find(|f| f.name == field)
    }

    /// The fields of object type `ty` (empty for anything else).
    pub fn object_fields(&self, ty: &str) -> &[FieldDef] {
        match self.types.get(ty) {
            Some(TypeDef::Object(fields)) => fields,
            _ => &[],
        }
    }

    /// True for a type a variable may have: a scalar, an enum or an input object.
    pub fn is_input_type(&self, ty: &Type) -> bool {
        matches!(
            self.types.get(named(ty)),
            Some(TypeDef::Scalar | TypeDef::Enum(_) | TypeDef::InputObject(_))
        )
    }

    /// True when `ty`'s named type is an object type (so the field needs a selection set).
    pub fn is_object(&self, ty: &Type) -> bool {
        matches!(self.types.get(named(ty)), Some(TypeDef::Object(_)))
    }
}

fn input_def(
    v: async_graphql_parser::Positioned<async_graphql_parser::types::InputValueDefinition>,
) -> InputDef {
    InputDef {
        name: v.node.name.node.to_string(),
        ty: v.node.ty.node,
        default: v.node.default_value.map(|d| d.node),
    }
}

/// The named type inside any list and non-null wrappers.
pub fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name,
        BaseType::List(inner) => named(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_sdl_parses() {
        let s = Schema::parse(SDL).unwrap();
        assert_eq!(s.query_type, "Query");
        for f in [
            "token",
            "tokens",
            "tokenHourData",
            "tokenHourDatas",
            "_meta",
        ] {
            assert!(s.field("Query", f).is_some(), "{f}");
        }
        let hd = s.field("Query", "tokenHourDatas").unwrap();
        let names: Vec<&str> = hd.args.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "skip",
                "first",
                "orderBy",
                "orderDirection",
                "where",
                "block",
                "subgraphError"
            ]
        );
        assert!(s
            .field("Token", "id")
            .is_some_and(|f| f.ty.to_string() == "Bytes!"));
        assert!(matches!(
            s.get("TokenHourData_filter"),
            Some(TypeDef::InputObject(fields)) if fields.iter().any(|f| f.name == "token_")
        ));
    }
}

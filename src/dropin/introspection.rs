//! Introspection of the drop-in endpoint: the upstream SDL ([`tokenmirror_subgraph::SDL`]),
//! descriptions and defaults included, as an introspection-only schema, so that codegen that
//! ran against the subgraph runs against the mirror and produces the same types.

use std::sync::OnceLock;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, InputObject, InputValue, Object, Scalar, Schema, TypeRef,
};
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, InputValueDefinition, Selection,
    SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::Positioned;
use tokenmirror_subgraph::query::plan;

/// Whether the operation `operation` of `query` asks for introspection: a root field
/// `__schema` or `__type` (`__typename` is answered by the query language itself). A query
/// that does not parse is not (the planner then says why).
pub fn asks_for(query: &str, operation: Option<&str>) -> bool {
    if !(query.contains("__schema") || query.contains("__type")) || plan::too_deep(query) {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return false,
        },
        (DocumentOperations::Multiple(ops), None) => match ops.values().next() {
            Some(op) if ops.len() == 1 => op,
            _ => return false,
        },
    };
    at_root(&doc, &op.node.selection_set.node, 0)
}

/// Whether `set` (at the root, fragments included) selects `__schema` or `__type`.
fn at_root(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    depth < 16
        && set.items.iter().any(|sel| match &sel.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
            Selection::InlineFragment(i) => at_root(doc, &i.node.selection_set.node, depth + 1),
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .is_some_and(|f| at_root(doc, &f.node.selection_set.node, depth + 1)),
        })
}

/// The introspection-only schema of the upstream SDL, built on first use; `None` (logged) if
/// the SDL cannot be turned into one, which the tests rule out.
pub fn schema() -> Option<&'static Schema> {
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| match build(tokenmirror_subgraph::SDL) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("the upstream SDL does not make an introspection schema: {e}");
                None
            }
        })
        .as_ref()
}

fn build(sdl: &str) -> Result<Schema, String> {
    let doc = async_graphql::parser::parse_schema(sdl).map_err(|e| e.to_string())?;
    let mut query_type = "Query".to_owned();
    let mut types = Vec::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                if let Some(q) = s.node.query {
                    query_type = q.node.to_string();
                }
            }
            TypeSystemDefinition::Type(t) => types.push(t.node),
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    let mut builder = Schema::build(&query_type, None, None).introspection_only();
    for t in types {
        let name = t.name.node.to_string();
        let description = t.description.map(|d| d.node);
        builder = match t.kind {
            TypeKind::Scalar => {
                let mut s = Scalar::new(&name);
                if let Some(d) = description {
                    s = s.description(d);
                }
                builder.register(s)
            }
            TypeKind::Enum(e) => {
                let mut en = Enum::new(&name);
                if let Some(d) = description {
                    en = en.description(d);
                }
                for v in e.values {
                    let mut item = EnumItem::new(v.node.value.node.to_string());
                    if let Some(d) = v.node.description {
                        item = item.description(d.node);
                    }
                    en = en.item(item);
                }
                builder.register(en)
            }
            TypeKind::InputObject(i) => {
                let mut obj = InputObject::new(&name);
                if let Some(d) = description {
                    obj = obj.description(d);
                }
                for f in i.fields {
                    obj = obj.field(input_value(f));
                }
                builder.register(obj)
            }
            TypeKind::Object(o) => {
                let mut obj = Object::new(&name);
                if let Some(d) = description {
                    obj = obj.description(d);
                }
                for f in o.fields {
                    let f = f.node;
                    let mut field =
                        Field::new(f.name.node.to_string(), type_ref(&f.ty.node), |_| {
                            // Never run: the schema answers introspection only.
                            FieldFuture::new(async { Ok(None::<async_graphql::Value>) })
                        });
                    if let Some(d) = f.description {
                        field = field.description(d.node);
                    }
                    for a in f.arguments {
                        field = field.argument(input_value(a));
                    }
                    obj = obj.field(field);
                }
                builder.register(obj)
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => {
                return Err(format!("type {name}: interfaces and unions are not used"))
            }
        };
    }
    builder.finish().map_err(|e| e.to_string())
}

fn input_value(v: Positioned<InputValueDefinition>) -> InputValue {
    let v = v.node;
    let mut input = InputValue::new(v.name.node.to_string(), type_ref(&v.ty.node));
    if let Some(d) = v.description {
        input = input.description(d.node);
    }
    if let Some(default) = v.default_value {
        input = input.default_value(default.node);
    }
    input
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        base
    } else {
        TypeRef::NonNull(Box::new(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdl_makes_an_introspection_schema() {
        let s = schema().expect("the SDL builds");
        // Its SDL holds every type and field of the upstream's.
        let sdl = s.sdl();
        for needle in [
            "type TokenHourData",
            "input TokenHourData_filter",
            "token_: Token_filter",
            "enum TokenHourData_orderBy",
            "subgraphError: _SubgraphErrorPolicy_! = deny",
            "first: Int = 100",
            "scalar BigDecimal",
        ] {
            assert!(sdl.contains(needle), "{needle} missing");
        }
    }

    #[test]
    fn introspection_is_a_root_field() {
        assert!(asks_for("{ __schema { types { name } } }", None));
        assert!(asks_for("{ __type(name: \"Token\") { name } }", None));
        assert!(asks_for(
            "query A { tokens { id } } query B { ...F } fragment F on Query { __schema { queryType { name } } }",
            Some("B")
        ));
        assert!(!asks_for("{ tokens { __typename id } }", None));
        // Text that only mentions it: a string, a comment, another operation.
        assert!(!asks_for(
            "{ tokens(where: {symbol_contains: \"__type\"}) { id } } # __schema",
            None
        ));
        assert!(!asks_for(
            "query A { tokens { id } } query B { __schema { types { name } } }",
            Some("A")
        ));
    }
}

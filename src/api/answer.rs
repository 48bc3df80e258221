//! Gives an answer the shape the GraphQL spec prescribes, where async-graphql 7.2 does not.
//!
//! async-graphql 7.2 resolves an object's fields concurrently and writes each one as it
//! finishes: a field that waits on the database (`hourData`, `syncStatus`) can come out after
//! one listed below it, a field whose resolver failed is left out instead of being null, and an
//! object whose fields are all skipped is null. [`complete`] mends all three after execution:
//! fields in the order the query's selection sets list them (fragments expanded in place,
//! selections skipped by `@skip`/`@include` left out, the first occurrence of a response key
//! deciding its place); failed fields null, or their nearest nullable parent; all-skipped
//! objects `{}` where null is not allowed. The shape of a selection (its keys and their types) is
//! worked out once and shared by every object of a list; objects already in order (nearly all)
//! are only checked.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, PathSegment, Positioned, ServerError, Value, Variables};

/// Completes `data`, the answer to the operation `operation_name` of `doc` run with
/// `variables`, as the GraphQL spec shapes it: a field whose resolver failed (an error with a
/// path) is `null`, or — when its type is non-null — makes its nearest nullable parent `null`,
/// up to `data` itself; and every object's fields come in the asked-for order.
pub fn complete(
    data: &mut Value,
    errors: &[ServerError],
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) {
    let Some(op) = super::selected_operation(doc, operation_name) else {
        return;
    };
    let ctx = Ctx { doc, op, variables };
    let shape = Shape::of(&[&op.selection_set.node], &ctx, "Query");
    if *data == Value::Null {
        // Every field was skipped, or failed: the operation ran, so `data` is an object.
        *data = Value::Object(Default::default());
    }
    for e in errors.iter().filter(|e| !e.path.is_empty()) {
        null_out(data, &e.path, &shape, &ctx);
    }
    shape.apply(data, &ctx);
}

/// Sets the answer at `path` (a failed field) to null, or its nearest nullable parent when the
/// field's type is non-null (SPEC of GraphQL, "Handling Field Errors").
fn null_out<'d>(data: &mut Value, path: &[PathSegment], root: &Shape<'d>, ctx: &Ctx<'d>) {
    // Whether each position along the path may be null.
    let mut nullable = Vec::with_capacity(path.len());
    let mut shape = Some(root);
    let mut current: Option<&FieldType> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let Some(s) = shape else { return };
                let Some(&i) = s.position.get(&Name::new(key)) else {
                    return;
                };
                let Some(ty) = s.types[i] else {
                    return; // introspection, or a type this walk does not know: leave it
                };
                nullable.push(ty.nullable);
                current = Some(ty);
                shape = s.child(i, ctx);
            }
            PathSegment::Index(_) => match current.and_then(|t| t.item_nullable) {
                Some(item) => nullable.push(item),
                None => return,
            },
        }
    }
    let Some(at) = nullable.iter().rposition(|n| *n) else {
        *data = Value::Null;
        return;
    };
    let (last, parents) = path[..=at].split_last().expect("at least one segment");
    let mut node = data;
    for segment in parents {
        let next = match (segment, node) {
            (PathSegment::Field(k), Value::Object(map)) => map.get_mut(k.as_str()),
            (PathSegment::Index(i), Value::List(items)) => items.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return, // an ancestor is already null
        }
    }
    match (last, node) {
        (PathSegment::Field(k), Value::Object(map)) => {
            map.insert(Name::new(k), Value::Null);
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

/// A field's type: nullable or not, and for a list whether its items are.
struct FieldType {
    nullable: bool,
    item_nullable: Option<bool>,
    /// The named type inside.
    named: String,
}

/// Every object field of the API's schema, by (type, field), read once from its SDL.
fn field_types() -> &'static HashMap<(String, String), FieldType> {
    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
    static TYPES: std::sync::OnceLock<HashMap<(String, String), FieldType>> =
        std::sync::OnceLock::new();
    TYPES.get_or_init(|| {
        let mut map = HashMap::new();
        let Ok(doc) = async_graphql::parser::parse_schema(super::sdl()) else {
            return map;
        };
        for def in doc.definitions {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let TypeKind::Object(object) = &t.node.kind else {
                continue;
            };
            for f in &object.fields {
                let ty = &f.node.ty.node;
                let (item_nullable, named) = match &ty.base {
                    BaseType::Named(n) => (None, n.to_string()),
                    BaseType::List(inner) => (
                        Some(inner.nullable),
                        match &inner.base {
                            BaseType::Named(n) => n.to_string(),
                            BaseType::List(_) => continue,
                        },
                    ),
                };
                map.insert(
                    (t.node.name.node.to_string(), f.node.name.node.to_string()),
                    FieldType {
                        nullable: ty.nullable,
                        item_nullable,
                        named,
                    },
                );
            }
        }
        map
    })
}

struct Ctx<'d> {
    doc: &'d ExecutableDocument,
    op: &'d OperationDefinition,
    variables: &'d Variables,
}

impl Ctx<'_> {
    /// Whether `@skip`/`@include` leave a selection out.
    fn skipped(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> bool {
        directives.iter().any(|d| {
            let wanted = match d.node.name.node.as_str() {
                "skip" => true,
                "include" => false,
                _ => return false,
            };
            let condition = d.node.get_argument("if").and_then(|v| {
                v.node
                    .clone()
                    .into_const_with(|name| self.variable(&name).ok_or(()))
                    .ok()
            });
            matches!(condition, Some(Value::Boolean(b)) if b == wanted)
        })
    }

    /// A variable's value as sent, else its default in the operation.
    fn variable(&self, name: &Name) -> Option<Value> {
        self.variables.get(name).cloned().or_else(|| {
            self.op
                .variable_definitions
                .iter()
                .find(|v| v.node.name.node == *name)
                .and_then(|v| v.node.default_value.as_ref())
                .map(|d| d.node.clone())
        })
    }
}

/// The response keys of some merged selection sets on objects of one type, in order, with each
/// key's field type and merged sub-selections; a key's [`Shape`] is worked out when first
/// needed.
struct Shape<'d> {
    position: HashMap<&'d Name, usize>,
    /// Response key, the field it answers, and the field's merged sub-selections.
    keys: Vec<(&'d Name, &'d Name, Vec<&'d SelectionSet>)>,
    /// Each key's field type (`None` for introspection and `__typename`).
    types: Vec<Option<&'static FieldType>>,
    children: Vec<OnceCell<Shape<'d>>>,
}

impl<'d> Shape<'d> {
    /// The shape of `sets` selected on objects of type `type_name` ("" when unknown).
    fn of(sets: &[&'d SelectionSet], ctx: &Ctx<'d>, type_name: &str) -> Shape<'d> {
        let mut shape = Shape {
            position: HashMap::new(),
            keys: Vec::new(),
            types: Vec::new(),
            children: Vec::new(),
        };
        let mut visited = HashSet::new();
        for set in sets {
            shape.collect(set, ctx, &mut visited);
        }
        let types = field_types();
        shape.types = shape
            .keys
            .iter()
            .map(|(_, field, _)| types.get(&(type_name.to_owned(), field.to_string())))
            .collect();
        shape.children = shape.keys.iter().map(|_| OnceCell::new()).collect();
        shape
    }

    fn collect(&mut self, set: &'d SelectionSet, ctx: &Ctx<'d>, visited: &mut HashSet<&'d Name>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if ctx.skipped(&field.node.directives) {
                        continue;
                    }
                    let key = &field.node.response_key().node;
                    let name = &field.node.name.node;
                    let i = *self.position.entry(key).or_insert_with(|| {
                        self.keys.push((key, name, Vec::new()));
                        self.keys.len() - 1
                    });
                    let sub = &field.node.selection_set.node;
                    if !sub.items.is_empty() {
                        self.keys[i].2.push(sub);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if ctx.skipped(&spread.node.directives) {
                        continue;
                    }
                    let name = &spread.node.fragment_name.node;
                    // Validation refuses cycles; the guard keeps this safe regardless.
                    if visited.insert(name) {
                        if let Some(fragment) = ctx.doc.fragments.get(name) {
                            self.collect(&fragment.node.selection_set.node, ctx, visited);
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    if !ctx.skipped(&inline.node.directives) {
                        self.collect(&inline.node.selection_set.node, ctx, visited);
                    }
                }
            }
        }
    }

    /// The shape under key number `i`, if the field has a selection set.
    fn child(&self, i: usize, ctx: &Ctx<'d>) -> Option<&Shape<'d>> {
        let sets = &self.keys[i].2;
        let type_name = self.types[i].map_or("", |t| t.named.as_str());
        (!sets.is_empty()).then(|| self.children[i].get_or_init(|| Shape::of(sets, ctx, type_name)))
    }

    /// Puts `value`'s keys (each object's, for a list) in this shape's order, recursively, and
    /// makes all-skipped objects `{}` where null is not allowed.
    fn apply(&self, value: &mut Value, ctx: &Ctx<'d>) {
        match value {
            Value::List(items) => {
                for item in items {
                    self.apply(item, ctx);
                }
            }
            Value::Object(map) => {
                let position = |k: &Name| self.position.get(k).copied().unwrap_or(usize::MAX);
                let mut last = 0;
                let in_order = map.keys().all(|k| {
                    let p = position(k);
                    let ok = p >= last;
                    last = p;
                    ok
                });
                if !in_order {
                    map.sort_by_cached_key(|k, _| position(k));
                }
                for (key, child) in map.iter_mut() {
                    let Some(&i) = self.position.get(key) else {
                        continue;
                    };
                    if !matches!(child, Value::Object(_) | Value::List(_) | Value::Null) {
                        continue;
                    }
                    let Some(shape) = self.child(i, ctx) else {
                        continue;
                    };
                    if shape.keys.is_empty() {
                        // Every field of this object was skipped: async-graphql answers null,
                        // the spec an empty object. Only where the type rules null out (a
                        // nullable field may well be null of its own accord).
                        if let Some(ty) = self.types[i] {
                            empty_objects(child, ty);
                        }
                        continue;
                    }
                    shape.apply(child, ctx);
                }
            }
            _ => {}
        }
    }
}

/// Turns the nulls that type `ty` does not allow (the field's, or its list's items') into
/// empty objects.
fn empty_objects(value: &mut Value, ty: &FieldType) {
    match value {
        Value::Null if !ty.nullable && ty.item_nullable.is_none() => {
            *value = Value::Object(Default::default());
        }
        Value::List(items) if ty.item_nullable == Some(false) => {
            for item in items.iter_mut().filter(|i| **i == Value::Null) {
                *item = Value::Object(Default::default());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(keys: &[(&str, Value)]) -> Value {
        Value::Object(
            keys.iter()
                .map(|(k, v)| (Name::new(k), v.clone()))
                .collect(),
        )
    }

    fn keys(v: &Value) -> Vec<String> {
        match v {
            Value::Object(m) => m.keys().map(|k| k.to_string()).collect(),
            _ => panic!("not an object: {v:?}"),
        }
    }

    fn field<'v>(v: &'v Value, key: &str) -> &'v Value {
        match v {
            Value::Object(m) => &m[key],
            _ => panic!("not an object: {v:?}"),
        }
    }

    #[test]
    fn restores_the_asked_for_order_through_fragments_and_lists() {
        let doc = async_graphql::parser::parse_query(
            "query Q { c: syncStatus { x } tokens { ...F b: name } a: tokens { symbol } }
             fragment F on TokenMetadata { symbol ... on TokenMetadata { hourData { close open } } }",
        )
        .unwrap();
        let candle = obj(&[("open", Value::from(1)), ("close", Value::from(2))]);
        let token = obj(&[
            ("b", Value::from("n")),
            ("hourData", Value::List(vec![candle.clone(), candle])),
            ("symbol", Value::from("s")),
        ]);
        let mut data = obj(&[
            ("a", Value::List(vec![])),
            ("tokens", Value::List(vec![token.clone(), token])),
            ("c", Value::List(vec![])),
        ]);
        complete(&mut data, &[], &doc, Some("Q"), &Variables::default());
        assert_eq!(keys(&data), ["c", "tokens", "a"]);
        let Value::List(tokens) = field(&data, "tokens") else {
            panic!()
        };
        for t in tokens {
            assert_eq!(keys(t), ["symbol", "hourData", "b"]);
            let Value::List(candles) = field(t, "hourData") else {
                panic!()
            };
            assert_eq!(keys(&candles[1]), ["close", "open"]);
        }
    }

    #[test]
    fn skipped_selections_do_not_decide_the_order() {
        let doc = async_graphql::parser::parse_query(
            "query($f: Boolean!) { a: __typename @skip(if: true) tokens { name @include(if: $f) symbol name } a: __typename }",
        )
        .unwrap();
        let vars = Variables::from_json(serde_json::json!({"f": false}));
        let mut data = obj(&[
            ("a", Value::from("Query")),
            (
                "tokens",
                Value::List(vec![obj(&[
                    ("name", Value::from("n")),
                    ("symbol", Value::from("s")),
                ])]),
            ),
        ]);
        complete(&mut data, &[], &doc, None, &vars);
        assert_eq!(keys(&data), ["tokens", "a"]);
        let Value::List(tokens) = field(&data, "tokens") else {
            panic!()
        };
        assert_eq!(keys(&tokens[0]), ["symbol", "name"]);
    }
}

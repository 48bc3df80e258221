//! Puts the fields of an answer in the order the query asked for them.
//!
//! The GraphQL spec orders a response's fields as the query's selection sets list them
//! (fragments expanded in place, selections skipped by `@skip`/`@include` left out, the first
//! occurrence of a response key deciding its place). async-graphql 7.2 resolves an object's
//! fields concurrently and writes each one as it finishes, so a field that waits on the database
//! (`hourData`, `syncStatus`) can come out after one listed below it. [`reorder`] restores the
//! asked-for order, recursively. The order of a selection is worked out once and shared by every
//! object of a list; objects already in order (nearly all) are only checked.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value, Variables};

/// Reorders `data`, the answer to the operation `operation_name` of `doc` run with `variables`.
pub fn reorder(
    data: &mut Value,
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) {
    let Some(op) = operation(doc, operation_name) else {
        return;
    };
    let ctx = Ctx { doc, op, variables };
    Shape::of(&[&op.selection_set.node], &ctx).apply(data, &ctx);
}

fn operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
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

/// The response keys of some merged selection sets, in order, with each key's own merged
/// sub-selections; a key's [`Shape`] is worked out when first needed.
struct Shape<'d> {
    position: HashMap<&'d Name, usize>,
    keys: Vec<(&'d Name, Vec<&'d SelectionSet>)>,
    children: Vec<OnceCell<Shape<'d>>>,
}

impl<'d> Shape<'d> {
    fn of(sets: &[&'d SelectionSet], ctx: &Ctx<'d>) -> Shape<'d> {
        let mut shape = Shape {
            position: HashMap::new(),
            keys: Vec::new(),
            children: Vec::new(),
        };
        let mut visited = HashSet::new();
        for set in sets {
            shape.collect(set, ctx, &mut visited);
        }
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
                    let i = *self.position.entry(key).or_insert_with(|| {
                        self.keys.push((key, Vec::new()));
                        self.keys.len() - 1
                    });
                    let sub = &field.node.selection_set.node;
                    if !sub.items.is_empty() {
                        self.keys[i].1.push(sub);
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

    /// Puts `value`'s keys (each object's, for a list) in this shape's order, recursively.
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
                    let sets = &self.keys[i].1;
                    if sets.is_empty() || !matches!(child, Value::Object(_) | Value::List(_)) {
                        continue;
                    }
                    self.children[i]
                        .get_or_init(|| Shape::of(sets, ctx))
                        .apply(child, ctx);
                }
            }
            _ => {}
        }
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
        reorder(&mut data, &doc, Some("Q"), &Variables::default());
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
        reorder(&mut data, &doc, None, &vars);
        assert_eq!(keys(&data), ["tokens", "a"]);
        let Value::List(tokens) = field(&data, "tokens") else {
            panic!()
        };
        assert_eq!(keys(&tokens[0]), ["symbol", "name"]);
    }
}

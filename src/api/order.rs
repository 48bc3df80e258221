//! Puts the fields of an answer in the order the query asked for them.
//!
//! The GraphQL spec orders a response's fields as the query's selection sets list them
//! (fragments expanded in place, the first occurrence of a response key deciding its place).
//! async-graphql 7.2 resolves an object's fields concurrently and writes each one as it
//! finishes, so a field that waits on the database (`hourData`, `syncStatus`) can come out
//! after one listed below it. [`reorder`] restores the asked-for order, recursively; objects
//! already in order (nearly all of them) are only checked.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

/// Reorders `data`, the answer to the operation `operation_name` of `doc`.
pub fn reorder(data: &mut Value, doc: &ExecutableDocument, operation_name: Option<&str>) {
    let Some(op) = operation(doc, operation_name) else {
        return;
    };
    order_value(data, &[&op.selection_set.node], doc);
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

/// A response key and the selection sets merged under it, in the order first seen.
type Keyed<'d> = Vec<(&'d Name, Vec<&'d SelectionSet>)>;

fn order_value(value: &mut Value, sets: &[&SelectionSet], doc: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            let keys = collect(sets, doc);
            for item in items {
                order_object(item, &keys, doc);
            }
        }
        Value::Object(_) => order_object(value, &collect(sets, doc), doc),
        _ => {}
    }
}

fn order_object(value: &mut Value, keys: &Keyed<'_>, doc: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order_object(item, keys, doc);
            }
        }
        Value::Object(map) => {
            let position = |k: &Name| keys.iter().position(|(key, _)| *key == k);
            let in_order = map
                .keys()
                .map(position)
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0] <= w[1]);
            if !in_order {
                map.sort_by_cached_key(|k, _| position(k).unwrap_or(usize::MAX));
            }
            for (key, sets) in keys {
                if sets.is_empty() {
                    continue;
                }
                if let Some(child) = map.get_mut(*key) {
                    order_value(child, sets, doc);
                }
            }
        }
        _ => {}
    }
}

/// The response keys of `sets` in order, fragments expanded in place.
fn collect<'d>(sets: &[&'d SelectionSet], doc: &'d ExecutableDocument) -> Keyed<'d> {
    let mut keys = Keyed::new();
    let mut visited = HashSet::new();
    for set in sets {
        collect_into(set, doc, &mut keys, &mut visited);
    }
    keys
}

fn collect_into<'d>(
    set: &'d SelectionSet,
    doc: &'d ExecutableDocument,
    keys: &mut Keyed<'d>,
    visited: &mut HashSet<&'d Name>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let sub = &field.node.selection_set.node;
                let entry = match keys.iter().position(|(k, _)| *k == key) {
                    Some(i) => &mut keys[i].1,
                    None => {
                        keys.push((key, Vec::new()));
                        &mut keys.last_mut().expect("just pushed").1
                    }
                };
                if !sub.items.is_empty() {
                    entry.push(sub);
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                // Validation refuses cycles; the guard keeps this safe regardless.
                if visited.insert(name) {
                    if let Some(fragment) = doc.fragments.get(name) {
                        collect_into(&fragment.node.selection_set.node, doc, keys, visited);
                    }
                }
            }
            Selection::InlineFragment(inline) => {
                collect_into(&inline.node.selection_set.node, doc, keys, visited);
            }
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
            ("tokens", Value::List(vec![token])),
            ("c", Value::List(vec![])),
        ]);
        reorder(&mut data, &doc, Some("Q"));
        assert_eq!(keys(&data), ["c", "tokens", "a"]);
        let Value::Object(m) = &data else {
            unreachable!()
        };
        let Value::List(tokens) = &m["tokens"] else {
            panic!()
        };
        assert_eq!(keys(&tokens[0]), ["symbol", "hourData", "b"]);
        let Value::Object(t) = &tokens[0] else {
            unreachable!()
        };
        let Value::List(candles) = &t["hourData"] else {
            panic!()
        };
        assert_eq!(keys(&candles[1]), ["close", "open"]);
    }
}

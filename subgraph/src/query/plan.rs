//! From query text to a plan: parse, pick the operation, coerce the variables, collect the
//! selections (fragments, aliases, `@skip`/`@include`, merged duplicate keys), check every field
//! against the SDL and coerce every argument, collecting graph-node's errors as it goes.

use std::collections::BTreeMap;

use async_graphql_parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, OperationType, Selection,
    SelectionSet,
};
use async_graphql_parser::Positioned;
use async_graphql_value::Value;

use super::error::{Loc, QueryError};
use super::fields::Kind;
use super::schema::{named, FieldDef, Schema};
use super::value::{coerce, resolve_argument, Variables, V};

/// Deepest bracket nesting a query may have. The parser recurses per level, so a query of a
/// million `[` must be refused before it is parsed, not by a stack overflow.
const MAX_NESTING: usize = 64;

/// A field to resolve, with its coerced arguments and its sub-selection.
#[derive(Debug, Clone)]
pub struct Node {
    /// The response key (alias or name).
    pub key: String,
    pub kind: Kind,
    /// Arguments after coercion, defaults applied; absent optional arguments are left out.
    pub args: BTreeMap<String, V>,
    pub children: Vec<Node>,
}

impl Node {
    /// The argument `name`, unless absent or null.
    pub fn arg(&self, name: &str) -> Option<&V> {
        self.args.get(name).filter(|v| !matches!(v, V::Null))
    }
}

/// Plans the operation `operation_name` of `query` with `variables` (JSON).
pub fn plan(
    schema: &Schema,
    query: &str,
    variables: Option<&serde_json::Map<String, serde_json::Value>>,
    operation_name: Option<&str>,
) -> Result<Vec<Node>, Vec<QueryError>> {
    if too_deep(query) {
        return Err(vec![QueryError::Parse {
            message: "recursion limit exceeded.".to_owned(),
            at: None,
        }]);
    }
    let doc = async_graphql_parser::parse_query(query).map_err(|e| {
        vec![QueryError::Parse {
            message: parse_message(&e),
            at: e.positions().next().map(Loc::from),
        }]
    })?;
    let op = select_operation(&doc, operation_name).map_err(|e| vec![e])?;
    match op.node.ty {
        OperationType::Query => {}
        OperationType::Mutation => {
            return Err(vec![QueryError::NotSupported(
                "Mutations are not supported".to_owned(),
            )])
        }
        OperationType::Subscription => {
            return Err(vec![QueryError::NotSupported(
                "Subscriptions are not supported over HTTP".to_owned(),
            )])
        }
    }
    let mut errors = Vec::new();
    let vars = coerce_variables(schema, &op.node, variables, &mut errors);
    let planner = Planner {
        schema,
        doc: &doc,
        vars,
    };
    let nodes = planner.selection(
        &schema.query_type,
        &[&op.node.selection_set.node],
        &mut errors,
    );
    if errors.is_empty() {
        Ok(nodes)
    } else {
        Err(errors)
    }
}

/// The parser's message without its drawing of the query: graph-node, too, reports the position
/// in `locations` and only the complaint in `message`.
fn parse_message(e: &async_graphql_parser::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .map(str::to_owned)
        .unwrap_or(text)
}

fn select_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Result<&'d Positioned<async_graphql_parser::types::OperationDefinition>, QueryError> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Ok(op),
        (DocumentOperations::Single(_), Some(n)) => {
            Err(QueryError::OperationNotFound(n.to_owned()))
        }
        (DocumentOperations::Multiple(ops), Some(n)) => ops
            .get(n)
            .ok_or_else(|| QueryError::OperationNotFound(n.to_owned())),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().ok_or(QueryError::OperationNameRequired)
        }
        (DocumentOperations::Multiple(_), None) => Err(QueryError::OperationNameRequired),
    }
}

/// Coerces the declared variables (graph-node reports a bad value as an invalid argument named
/// after the variable, at the variable's definition).
fn coerce_variables(
    schema: &Schema,
    op: &async_graphql_parser::types::OperationDefinition,
    given: Option<&serde_json::Map<String, serde_json::Value>>,
    errors: &mut Vec<QueryError>,
) -> Variables {
    let mut vars = Variables::new();
    for def in &op.variable_definitions {
        let name = def.node.name.node.to_string();
        let ty = &def.node.var_type.node;
        let at = Loc::from(def.pos);
        if !schema.is_input_type(ty) {
            errors.push(QueryError::InvalidVariableType { at, name });
            continue;
        }
        let value = match given.and_then(|g| g.get(&name)) {
            Some(json) => V::from_json(json),
            None => match &def.node.default_value {
                Some(d) => V::from_const(&d.node),
                None if !ty.nullable => {
                    errors.push(QueryError::MissingVariable { at, name });
                    continue;
                }
                None => continue,
            },
        };
        match coerce(schema, &value, ty) {
            Some(v) => {
                vars.insert(name, v);
            }
            None => errors.push(QueryError::InvalidArgument {
                at,
                name,
                value: value.debug(),
            }),
        }
    }
    vars
}

struct Planner<'a> {
    schema: &'a Schema,
    doc: &'a ExecutableDocument,
    vars: Variables,
}

impl<'a> Planner<'a> {
    /// Plans the merged selection sets `sets` on object type `parent`.
    fn selection(
        &self,
        parent: &str,
        sets: &[&'a SelectionSet],
        errors: &mut Vec<QueryError>,
    ) -> Vec<Node> {
        let mut groups: Vec<(String, Vec<&'a Positioned<Field>>)> = Vec::new();
        let mut visiting = Vec::new();
        for set in sets {
            if let Err(e) = self.collect(parent, set, &mut groups, &mut visiting) {
                errors.push(e);
                return Vec::new();
            }
        }
        groups
            .into_iter()
            .filter_map(|(key, fields)| self.node(parent, key, &fields, errors))
            .collect()
    }

    /// Groups the fields of `set` by response key, expanding fragments that apply to `parent`.
    fn collect(
        &self,
        parent: &str,
        set: &'a SelectionSet,
        groups: &mut Vec<(String, Vec<&'a Positioned<Field>>)>,
        visiting: &mut Vec<&'a str>,
    ) -> Result<(), QueryError> {
        for sel in &set.items {
            if !self.included(sel.node.directives()) {
                continue;
            }
            match &sel.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.as_str();
                    match groups.iter_mut().find(|(k, _)| k == key) {
                        Some((_, fields)) => fields.push(f),
                        None => groups.push((key.to_owned(), vec![f])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let frag = self
                        .doc
                        .fragments
                        .get(name)
                        .ok_or_else(|| QueryError::UndefinedFragment(name.to_owned()))?;
                    if visiting.contains(&name) {
                        return Err(QueryError::CyclicalFragment(name.to_owned()));
                    }
                    if frag.node.type_condition.node.on.node.as_str() == parent {
                        visiting.push(name);
                        self.collect(parent, &frag.node.selection_set.node, groups, visiting)?;
                        visiting.pop();
                    }
                }
                Selection::InlineFragment(inline) => {
                    let applies = inline
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| c.node.on.node.as_str() == parent);
                    if applies {
                        self.collect(parent, &inline.node.selection_set.node, groups, visiting)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// `@skip(if:)` and `@include(if:)`.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|d| {
            let cond = d
                .node
                .get_argument("if")
                .and_then(|v| resolve_argument(&v.node, &self.vars));
            !matches!(
                (d.node.name.node.as_str(), cond),
                ("skip", Some(V::Boolean(true))) | ("include", Some(V::Boolean(false)))
            )
        })
    }

    fn node(
        &self,
        parent: &str,
        key: String,
        fields: &[&'a Positioned<Field>],
        errors: &mut Vec<QueryError>,
    ) -> Option<Node> {
        let first = fields.first()?;
        let name = first.node.name.node.as_str();
        let unknown = || QueryError::UnknownField {
            at: Loc::from(first.pos),
            parent: parent.to_owned(),
            field: name.to_owned(),
        };
        if name == "__typename" {
            return Some(Node {
                key,
                kind: Kind::Typename,
                args: BTreeMap::new(),
                children: Vec::new(),
            });
        }
        let Some(def) = self.schema.field(parent, name) else {
            errors.push(unknown());
            return None;
        };
        let Some(kind) = Kind::of(parent, name) else {
            errors.push(QueryError::Unimplemented(format!("{parent}.{name}")));
            return None;
        };
        let args = self.arguments(def, &first.node.arguments, errors);
        let mut children = Vec::new();
        if self.schema.is_object(&def.ty) {
            let child_type = named(&def.ty);
            let sets: Vec<&SelectionSet> =
                fields.iter().map(|f| &f.node.selection_set.node).collect();
            if sets.iter().all(|s| s.items.is_empty()) {
                errors.push(QueryError::EmptySelectionSet(child_type.to_owned()));
                return None;
            }
            children = self.selection(child_type, &sets, errors);
        }
        Some(Node {
            key,
            kind,
            args,
            children,
        })
    }

    /// Coerces the arguments of one field, as graph-node does: every argument the SDL defines
    /// is looked up (arguments it does not define are ignored, like graph-node's
    /// "graphql-bug-compat"), defaults fill the gaps, and a bad value is reported with the value
    /// as given.
    fn arguments(
        &self,
        def: &FieldDef,
        given: &[(Positioned<async_graphql_value::Name>, Positioned<Value>)],
        errors: &mut Vec<QueryError>,
    ) -> BTreeMap<String, V> {
        let mut args = BTreeMap::new();
        for arg in &def.args {
            let value = given
                .iter()
                .find(|(n, _)| n.node.as_str() == arg.name)
                .and_then(|(_, v)| resolve_argument(&v.node, &self.vars))
                .or_else(|| arg.default.as_ref().map(V::from_const));
            match value {
                None if !arg.ty.nullable => errors.push(QueryError::MissingArgument {
                    at: Loc::SCHEMA,
                    name: arg.name.clone(),
                }),
                None => {}
                Some(v) => match coerce(self.schema, &v, &arg.ty) {
                    Some(c) => {
                        args.insert(arg.name.clone(), c);
                    }
                    None => errors.push(QueryError::InvalidArgument {
                        at: Loc::SCHEMA,
                        name: arg.name.clone(),
                        value: v.debug(),
                    }),
                },
            }
        }
        args
    }
}

/// True when brackets nest deeper than 64 levels (strings and comments skipped): such a query
/// must not be given to the parser.
pub fn too_deep(query: &str) -> bool {
    let b = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SDL;

    fn errors(q: &str) -> Vec<String> {
        let s = Schema::parse(SDL).unwrap();
        match plan(&s, q, None, None) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn reports_graph_node_errors() {
        assert_eq!(errors("{ foo }"), ["Type `Query` has no field `foo`"]);
        assert_eq!(
            errors("{ tokens { id bar } }"),
            ["Type `Token` has no field `bar`"]
        );
        assert_eq!(
            errors(r#"{ tokens(first: "abc") { id } }"#),
            [r#"Invalid value provided for argument `first`: String("abc")"#]
        );
        assert_eq!(
            errors("{ token { id } }"),
            ["No value provided for required argument: `id`"]
        );
        assert_eq!(
            errors("{ tokens }"),
            ["Selection set for type `Token` is empty"]
        );
        assert!(errors("{ tokens(unknownArg: 1) { id } }").is_empty());
        assert_eq!(errors("{ ...F }"), ["fragment `F` is not defined"]);
        assert!(!errors("{ tokens { id ").is_empty());
    }

    #[test]
    fn refuses_deep_nesting_before_parsing() {
        let deep = format!("{{ tokens(where: {}) {{ id }} }}", "[".repeat(100_000));
        assert_eq!(errors(&deep), ["recursion limit exceeded."]);
        assert!(!too_deep(
            r#"{ a(b: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[") }"#
        ));
    }

    #[test]
    fn merges_fragments_and_aliases() {
        let s = Schema::parse(SDL).unwrap();
        let q = "query Q($n: Int!) { a: tokens(first: $n) { id ...F } a: tokens { symbol } \
                 ... on Query { _meta { deployment } } } fragment F on Token { name id }";
        let vars = serde_json::json!({"n": 3});
        let nodes = plan(&s, q, vars.as_object(), Some("Q")).unwrap();
        assert_eq!(nodes.len(), 2);
        let keys: Vec<&str> = nodes[0].children.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["id", "name", "symbol"]);
        assert_eq!(nodes[0].args.get("first"), Some(&V::Int(3)));
        assert_eq!(nodes[0].args.get("skip"), Some(&V::Int(0)));
    }
}

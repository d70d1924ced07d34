// Smedge job queries as a person types them, the same grammar as `corral jobs list
// --where` (corral_client/query.py; a test holds the two to the same answers): a
// shorthand term FIELD OP VALUE, or JSON taken as it is. Several queries must all hold.

export const OPERATORS = ["=", "!=", "<", ">", "contains", ":", "!:", "*", "before", "after"];
export const MAX_QUERY_CHARS = 4096;

const NAME = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*/;
const SYMBOLS = ["!=", "!:", "=", "<", ">", ":", "*"];
const WORDS = /^(contains|before|after)(?:\s+|$)/i;

export class QueryError extends Error {}

function cut(text) {
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

// Python's repr of a string, as the command's messages show it.
function repr(text) {
  return text.includes("'") && !text.includes('"') ? `"${text}"` : `'${text.replaceAll("'", "\\'")}'`;
}

function unquoted(text) {
  if (text.length >= 2 && text[0] === text[text.length - 1] && (text[0] === "'" || text[0] === '"')) {
    return text.slice(1, -1);
  }
  return text;
}

// Python's str.strip() for the ASCII whitespace the command sees in practice.
function strip(text) {
  return text.replace(/^[\s\u001c-\u001f]+|[\s\u001c-\u001f]+$/g, "");
}

/** One shorthand term "FIELD OP VALUE" as [FIELD, OP, VALUE]. */
export function parseTerm(text) {
  if (typeof text !== "string" || !strip(text)) {
    throw new QueryError("an empty query; write FIELD OP VALUE, e.g. Priority<50");
  }
  const found = text.match(NAME);
  if (!found) {
    throw new QueryError(`${repr(cut(text))} does not start with a field name; write FIELD OP VALUE, e.g. 'Creator contains joe'`);
  }
  const name = found[1];
  let rest = text.slice(found[0].length);
  let op = null;
  for (const symbol of SYMBOLS) {
    if (rest.startsWith(symbol)) {
      op = symbol;
      rest = rest.slice(symbol.length);
      break;
    }
  }
  if (op === null) {
    const word = rest.match(WORDS);
    if (word) {
      op = word[1].toLowerCase();
      rest = rest.slice(word[0].length);
    }
  }
  if (op === null) {
    throw new QueryError(`${repr(cut(text))}: no operator after ${repr(name)}; one of ${OPERATORS.join(" ")}`);
  }
  return [name, op, unquoted(strip(rest))];
}

/** A query as typed: JSON (a list, or a quoted job id) as it is, else one shorthand term. */
export function parseWhere(text) {
  if (typeof text !== "string") throw new QueryError("a query is text");
  if (text.length > MAX_QUERY_CHARS) {
    throw new QueryError(`the query is ${text.length} characters; at most ${MAX_QUERY_CHARS}`);
  }
  const stripped = strip(text);
  if (stripped.startsWith("[") || stripped.startsWith('"')) {
    try {
      return JSON.parse(stripped);
    } catch (error) {
      throw new QueryError(`not JSON: ${error.message}`);
    }
  }
  return parseTerm(stripped);
}

/** Several queries that must all hold, as one query (one query stays itself). */
export function combine(queries) {
  if (queries.length === 0) throw new QueryError("no query to combine");
  return queries.length === 1 ? queries[0] : [...queries];
}

/** The query as the compact JSON text `?where=` takes. */
export function toJson(query) {
  return JSON.stringify(query);
}

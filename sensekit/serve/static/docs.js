// Renders /openapi.json as a page: each endpoint, its inputs, options and a curl line.
"use strict";

function node(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function typeName(schema) {
  if (schema.format === "binary") return "file";
  if (schema.oneOf) return schema.oneOf.map(typeName).join(" or ");
  const types = [].concat(schema.type || "any");
  return types.map((t) => (t === "array" ? `list of ${schema.items.type}` : t)).join(" or ");
}

function curl(path, operation) {
  const form = operation.requestBody.content["multipart/form-data"].schema;
  const fields = form.required.map((name) => {
    const binary = form.properties[name].format === "binary";
    return `-F ${name}=${binary ? "@FILE" : "'...'"}`;
  });
  const auth = operation.security ? "-H 'Authorization: Bearer TOKEN' " : "";
  return `curl ${auth}${fields.join(" ")} ${location.origin}${path}`;
}

function endpoint(path, method, operation) {
  const section = node("article");
  section.append(node("h2", `${method.toUpperCase()} ${path}`), node("p", operation.summary));
  if (!operation.requestBody) return section;
  const form = operation.requestBody.content["multipart/form-data"].schema;
  const table = node("div", undefined, "bars");
  for (const [name, schema] of Object.entries(form.properties)) {
    const required = form.required.includes(name);
    const shown = schema.default === undefined ? "" : JSON.stringify(schema.default);
    const kind = node("span", `${typeName(schema)}${required ? " (input)" : ""}`);
    if (schema.description) kind.append(node("div", schema.description, "muted"));
    table.append(node("code", name), kind, node("span", shown, "num"));
  }
  section.append(node("p", "Accepts: " + Object.keys(operation.requestBody.content).join(", "), "muted"),
                 table, node("pre", curl(path, operation)));
  return section;
}

fetch("/openapi.json").then((response) => response.json()).then((document_) => {
  const target = document.getElementById("endpoints");
  target.replaceChildren(node("p", document_.info.description));
  for (const [path, methods] of Object.entries(document_.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      target.append(endpoint(path, method, operation));
    }
  }
});

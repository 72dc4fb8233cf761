// Type-checked (`tsc --noEmit`) against the types openapi-typescript
// generates from the published spec, as `./schema` beside this file.
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
type Scope = Schemas["Scope"];

// A create request as the vendor's page shows it.
const request: Schemas["CreateApiKeyRequest"] = {
  name: "TEST API key",
  exp: "2024-07-17T07:23:51.104Z",
  scopes: ["workspace.collection:create"],
};

// @ts-expect-error: a scope outside the spec's enum does not type-check.
const unknownScope: Scope = "workspace.collection:frobnicate";

// @ts-expect-error: every field of the request is required.
const missingExp: Schemas["CreateApiKeyRequest"] = { name: "n", scopes: ["workspace.file:upload"] };

/** Narrows the `Scope` union to the admin scopes. */
function isAdminScope(scope: Scope): scope is Extract<Scope, `workspace.admin.${string}`> {
  return scope.startsWith("workspace.admin.");
}

function describe(scope: Scope): string {
  if (isAdminScope(scope)) {
    const admin: `workspace.admin.${string}` = scope;
    return `admin: ${admin}`;
  }
  switch (scope) {
    case "workspace.file:upload":
    case "workspace.file:download":
      return "files";
    default:
      return scope;
  }
}

// The created key carries the one-time secret; a listed key does not.
function secretOf(created: Schemas["CreatedApiKey"]): string {
  return created.key;
}
// @ts-expect-error: listed keys have no `key`.
const noSecret = (listed: Schemas["ApiKey"]): string => listed.key;

// Query parameters and responses by operation.
type ListQuery = NonNullable<operations["listApiKeys"]["parameters"]["query"]>;
const query: ListQuery = { offset: 0, limit: 100 };
type ListPage = paths["/api/v0.4/admin/api-keys"]["get"]["responses"][200]["content"]["application/json"];
const total = (page: ListPage): number => page.pagination.total;
type Problem = operations["deleteApiKey"]["responses"][404]["content"]["application/problem+json"];
const detail = (problem: Problem): string | undefined => problem.detail;

export { request, unknownScope, missingExp, describe, secretOf, noSecret, query, total, detail };

// Starts the vendored Swagger UI on /docs; a file, not FastAPI's inline script, so the page runs
// under the same Content-Security-Policy as every other page.
"use strict";
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapi,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
});

// Starts Swagger UI on /api/docs from this file rather than an inline script, which the
// portal's Content-Security-Policy refuses. Options as FastAPI's page sets them; no validator
// badge, which would fetch an image from swagger.io.
"use strict";

(() => {
  const host = document.getElementById("swagger-ui");
  if (!host || typeof SwaggerUIBundle !== "function") return;
  window.ui = SwaggerUIBundle({
    url: host.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();

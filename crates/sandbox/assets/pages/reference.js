// Renders the API reference with Swagger UI. It lives in a file of its own
// because the page's Content-Security-Policy allows no inline script.
(function () {
  'use strict';

  var root = document.getElementById('reference');

  function render(spec, served) {
    if (served) {
      // "Try it" calls the server that served the page: this sandbox, not
      // the production host the spec names.
      spec.servers = [{ url: window.location.origin, description: 'This sandbox' }];
    }
    document.title = spec.info.title + ' – reference';
    window.SwaggerUIBundle({
      spec: spec,
      domNode: root,
      // Otherwise Swagger UI sends the spec to validator.swagger.io.
      validatorUrl: null,
      // A link must not be able to load some other spec into this page.
      queryConfigEnabled: false,
      deepLinking: false,
      // A pasted key lasts as long as the page, never in storage.
      persistAuthorization: false,
      displayOperationId: true,
      defaultModelsExpandDepth: 1,
      defaultModelExpandDepth: 3,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: 'BaseLayout'
    });
  }

  // What Swagger UI leaves out for keyboards and screen readers, put back
  // whenever it draws: names for its bare selects and icon buttons, and a
  // tab stop on code blocks that scroll.
  var names = [
    ['select#servers', 'Server'],
    ['select.examples-select-element', 'Example'],
    ['select.content-type', 'Media type'],
    ['textarea.body-param__text', 'Request body'],
    ['button.model-box-control', 'Show or hide']
  ];
  function mend() {
    names.forEach(function (pair) {
      root.querySelectorAll(pair[0]).forEach(function (node) {
        // A button that shows text is named by it already.
        var named = node.tagName === 'BUTTON' && node.textContent.trim() !== '';
        if (!named && !node.hasAttribute('aria-label')) {
          node.setAttribute('aria-label', pair[1]);
        }
      });
    });
    // A parameter's value list is named by its parameter.
    root.querySelectorAll('tr[data-param-name] select').forEach(function (node) {
      if (!node.hasAttribute('aria-label')) {
        node.setAttribute('aria-label', node.closest('tr').getAttribute('data-param-name'));
      }
    });
    root.querySelectorAll('pre.microlight').forEach(function (node) {
      if (!node.hasAttribute('tabindex')) {
        node.setAttribute('tabindex', '0');
      }
    });
  }
  new MutationObserver(mend).observe(root, { childList: true, subtree: true });

  function fail(message) {
    root.textContent = 'The reference could not be shown: ' + message;
  }

  // The standalone file carries its spec in the page; the sandbox serves it
  // beside the page.
  var inline = document.getElementById('spec');
  if (inline) {
    render(JSON.parse(inline.textContent), false);
    return;
  }
  fetch(root.getAttribute('data-spec'), { credentials: 'omit' })
    .then(function (response) {
      if (!response.ok) {
        throw new Error('the spec answered ' + response.status);
      }
      return response.json();
    })
    .then(function (spec) { render(spec, true); })
    .catch(function (error) { fail(error.message); });
})();

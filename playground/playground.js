// Tally's GraphiQL page (docs/playground.md): a token bar, the example
// operations of playground/*.graphql as tabs, and a fetcher for POST /graphql.
(function () {
  'use strict';

  var TOKEN_KEY = 'tally.playground.token';
  var mount = document.getElementById('graphiql');
  var examples = JSON.parse(document.getElementById('tally-examples').textContent);
  // Relative to the page, so that Tally also works behind a path prefix.
  var endpoint = new URL('graphql', document.baseURI).toString();

  function storedToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || '';
    } catch (_) {
      return '';
    }
  }

  function storeToken(token) {
    try {
      if (token) {
        window.localStorage.setItem(TOKEN_KEY, token);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (_) {
      // Storage refused (private mode): the token lives until the page closes.
    }
    currentToken = token;
  }

  var currentToken = storedToken();

  // GraphQL over HTTP: a JSON body, a JSON answer. The token bar's token is
  // sent unless the headers editor of GraphiQL names an Authorization itself.
  function fetcher(params, options) {
    var headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (currentToken) {
      headers.authorization = 'Bearer ' + currentToken;
    }
    var extra = (options && options.headers) || {};
    Object.keys(extra).forEach(function (name) {
      headers[name.toLowerCase()] = extra[name];
    });
    return fetch(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(params),
      credentials: 'omit',
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (_) {
          return { errors: [{ message: 'HTTP ' + response.status + ': ' + text }] };
        }
      });
    });
  }

  // The token bar.
  var input = document.getElementById('tally-token');
  var state = document.getElementById('tally-token-state');
  function showTokenState() {
    state.textContent = currentToken
      ? 'a token is sent with every request (kept in this browser)'
      : 'no token: you are anonymous (the schema and its docs appear once a token is set)';
  }
  input.value = currentToken;
  showTokenState();

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    mount.className = 'tally-failed';
    mount.textContent =
      'GraphiQL could not be loaded: see the notice above, or run `npm ci --prefix playground` ' +
      'where Tally runs.';
    return;
  }

  function tab(example) {
    return { query: example.query, variables: example.variables || undefined };
  }

  var props = {
    defaultTabs: examples.map(tab),
    defaultQuery:
      '# Write an operation here; the examples are linked above.\n' +
      '{\n  viewer {\n    name\n    isAdmin\n  }\n}\n',
    defaultEditorToolsVisibility: 'variables',
  };
  // ?example=NAME opens that example: in a new tab, or in the tab that holds
  // it unchanged.
  var wanted = new URLSearchParams(window.location.search).get('example');
  var chosen = examples.filter(function (example) {
    return example.name === wanted;
  })[0];
  if (chosen) {
    props.query = chosen.query;
    props.variables = chosen.variables || '';
  }

  var root = ReactDOM.createRoot(mount);
  function render() {
    // A new fetcher makes GraphiQL fetch the schema again, as the new caller.
    var withToken = function (params, options) {
      return fetcher(params, options);
    };
    // Anonymous callers may not introspect (TALLY_GRAPHQL_INTROSPECTION):
    // without a token GraphiQL is told there is no schema to fetch.
    var schema = currentToken ? {} : { schema: null };
    root.render(
      React.createElement(GraphiQL, Object.assign({ fetcher: withToken }, props, schema))
    );
  }
  render();

  document.getElementById('tally-token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    storeToken(input.value.trim());
    showTokenState();
    render();
  });
  document.getElementById('tally-token-clear').addEventListener('click', function () {
    input.value = '';
    storeToken('');
    showTokenState();
    render();
  });
})();

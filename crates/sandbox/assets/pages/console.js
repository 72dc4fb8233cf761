// The sandbox console: the state of the sandbox, its journal, faults and
// clock, read and driven through the control plane's API.
//
// Everything shown here that came from a request (organization and key
// names, paths and queries) is untrusted, so it is only ever set as text
// (`textContent`), never parsed as HTML, with invisible and
// direction-changing characters shown as escapes. The page's
// Content-Security-Policy allows no inline script as a second line of
// defence.
(function () {
  'use strict';

  var TOKEN_KEY = 'alphamoon-sandbox-control-token';
  var API = '/_sandbox/v1';
  var REFRESH_MS = 1000;
  var TIMEOUT_MS = 5000;
  var PAGE = 100;
  // Enough to look at; the control API pages through the rest.
  var JOURNAL_ROWS = 200;
  var MAX_ORG_PAGES = 10;
  var MAX_KEY_PAGES = 10;
  // Each organization's keys cost requests on every refresh.
  var ORGS_WITH_KEYS = 50;

  var byId = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem(TOKEN_KEY);
  var timer = null;
  // What each panel last showed, so that an unchanged panel is left alone
  // and keeps its focus and scroll position.
  var shown = {};
  var journal = [];
  // The last read failure on the status line, cleared by the next success.
  var readFailure = null;

  function say(message) {
    readFailure = null;
    byId('status').textContent = message;
  }

  // Control, format and line-separator characters as visible escapes, so
  // that a name cannot hide text, reorder it, or pass for another.
  function visible(text) {
    return String(text).replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, function (c) {
      return '⟨U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩';
    });
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = visible(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  // A table row; a cell is text, or `{ text, className }`, or a node.
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (cell) {
      var td;
      if (cell instanceof Node) {
        td = document.createElement('td');
        td.appendChild(cell);
      } else if (cell !== null && typeof cell === 'object') {
        td = element('td', cell.text, cell.className);
      } else {
        td = element('td', cell);
      }
      tr.appendChild(td);
    });
    return tr;
  }

  // One call to the control plane. A refused token sends the page back to
  // the token form.
  function call(method, path, body) {
    var headers = { Authorization: 'Bearer ' + token };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    var abort = new AbortController();
    var timeout = window.setTimeout(function () { abort.abort(); }, TIMEOUT_MS);
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal: abort.signal
    }).then(function (response) {
      if (response.status === 401) {
        disconnect('The sandbox refused the token.');
        throw new Error('The sandbox refused the token.');
      }
      if (response.status === 204) {
        return null;
      }
      return response.json().then(function (json) {
        if (!response.ok) {
          var error = new Error(response.status + ': ' + (json && json.detail ? json.detail : response.statusText));
          error.status = response.status;
          throw error;
        }
        return json;
      });
    }, function (error) {
      throw new Error(error.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + ' s' : error.message);
    }).finally(function () {
      window.clearTimeout(timeout);
    });
  }

  // Every page of a listing, up to `maxPages` of them.
  function all(path, member, maxPages) {
    var items = [];
    function from(offset, pages) {
      return call('GET', path + '?limit=' + PAGE + '&offset=' + offset).then(function (page) {
        items = items.concat(page[member]);
        var next = offset + page[member].length;
        if (page[member].length > 0 && next < page.pagination.total && pages < maxPages) {
          return from(next, pages + 1);
        }
        return { items: items, total: page.pagination.total };
      });
    }
    return from(0, 1);
  }

  function changed(panel, data) {
    var text = JSON.stringify(data);
    if (shown[panel] === text) {
      return false;
    }
    shown[panel] = text;
    return true;
  }

  function showClock(clock) {
    if (!changed('clock', clock)) {
      return;
    }
    byId('clock-now').textContent = clock.now;
    byId('clock-state').textContent = clock.frozen ? '(frozen)' : '(running)';
  }

  function count(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  function keyTable(org) {
    var table = document.createElement('table');
    table.appendChild(element('caption', 'Keys of ' + org.name, 'visually-hidden'));
    var head = document.createElement('thead');
    var tr = document.createElement('tr');
    ['Name', 'Id', 'Scopes', 'Status', 'Created', 'Expires'].forEach(function (name) {
      var th = element('th', name);
      th.scope = 'col';
      tr.appendChild(th);
    });
    head.appendChild(tr);
    table.appendChild(head);
    var body = document.createElement('tbody');
    org.keys.forEach(function (key) {
      body.appendChild(row([
        { text: key.name, className: 'name' },
        { text: key.id, className: 'id' },
        key.scopes.join(' '),
        { text: key.status, className: 'status-' + String(key.status).toLowerCase() },
        { text: key.createdAt, className: 'time' },
        { text: key.exp, className: 'time' }
      ]));
    });
    table.appendChild(body);
    return table;
  }

  function showOrgs(orgs) {
    if (!changed('orgs', orgs)) {
      return;
    }
    var root = byId('orgs');
    root.replaceChildren();
    var summary = orgs.total === 0 ? 'No organizations.' : count(orgs.total, 'organization', 'organizations');
    if (orgs.items.length < orgs.total) {
      summary += ', the first ' + orgs.items.length + ' shown';
    }
    if (orgs.items.some(function (org) { return org.keys === null; })) {
      summary += '; keys shown for the first ' + ORGS_WITH_KEYS;
    }
    byId('orgs-summary').textContent = summary;
    orgs.items.forEach(function (org) {
      var section = element('section', null, 'org');
      section.appendChild(element('h3', org.name, 'name'));
      var about = org.orgId + ' · ' + count(org.keyCount, 'key', 'keys');
      if (org.keys !== null && org.keys.length < org.keyCount) {
        about += ', the first ' + org.keys.length + ' shown';
      }
      section.appendChild(element('p', about, 'org-id'));
      if (org.keys !== null) {
        section.appendChild(keyTable(org));
      }
      root.appendChild(section);
    });
  }

  // The path and query as sent, and, when percent-decoding changes them,
  // decoded too, since that is what the caller's code meant to send. Each
  // run of escapes is decoded on its own, so one bad escape spoils only
  // itself, and the escapes that stand for separators stay as sent.
  function decoded(sent) {
    return sent.replace(/(?:%[0-9A-Fa-f]{2})+/g, function (run) {
      try {
        return decodeURIComponent(run).replace(/[/?#&=%+]/g, encodeURIComponent);
      } catch (error) {
        return run;
      }
    });
  }

  function sentOf(entry) {
    return entry.path + (entry.query ? '?' + entry.query : '');
  }

  function target(entry) {
    var sent = sentOf(entry);
    var node = document.createElement('span');
    node.appendChild(element('span', sent));
    var meant = decoded(sent);
    if (meant !== sent) {
      node.appendChild(element('span', 'decoded: ' + meant, 'decoded'));
    }
    return node;
  }

  function journalText(entry) {
    return [entry.method, sentOf(entry), decoded(sentOf(entry)), entry.operationId, entry.status,
      entry.keyId, entry.fault].join(' ').toLowerCase();
  }

  function showJournal() {
    var filter = byId('journal-filter').value.trim().toLowerCase();
    var matching = journal.filter(function (entry) {
      return filter === '' || journalText(entry).indexOf(filter) >= 0;
    });
    if (!changed('journal', [filter, matching])) {
      return;
    }
    var body = byId('journal').tBodies[0];
    body.replaceChildren();
    matching.forEach(function (entry) {
      body.appendChild(row([
        { text: entry.at, className: 'time' },
        { text: entry.method, className: 'id' },
        target(entry),
        { text: entry.operationId || '–', className: 'id' },
        entry.status === null ? 'no answer' : entry.status,
        { text: entry.keyId || '–', className: 'id' },
        { text: entry.fault || '–', className: 'id' },
        { text: entry.durationMs + ' ms', className: 'time' }
      ]));
    });
    byId('journal-caption').textContent = 'Requests to the vendor API, newest first: ' +
      matching.length + ' of ' + journal.length + ' shown';
  }

  function showFaults(faults) {
    if (!changed('faults', faults)) {
      return;
    }
    var body = byId('faults').tBodies[0];
    body.replaceChildren();
    faults.forEach(function (fault) {
      var remove = element('button', 'Delete');
      remove.type = 'button';
      remove.setAttribute('aria-label', 'Delete fault ' + fault.id);
      remove.addEventListener('click', function () {
        // The button goes with its row: keep the focus in the panel.
        byId('fault-submit').focus();
        act(call('DELETE', '/faults/' + encodeURIComponent(fault.id)), 'Deleted fault ' + fault.id + '.');
      });
      body.appendChild(row([
        { text: fault.id, className: 'id' },
        fault.operationId || 'every operation',
        fault.status === null ? '–' : fault.status,
        fault.action,
        fault.delayMs + ' ms',
        fault.times === null ? 'no limit' : fault.times,
        fault.probability,
        remove
      ]));
    });
  }

  // An organization with its keys, or with `keys: null` beyond the first
  // ORGS_WITH_KEYS. One deleted meanwhile (a reset elsewhere) is dropped.
  function withKeys(org, index) {
    if (index >= ORGS_WITH_KEYS) {
      return Promise.resolve(Object.assign({ keys: null }, org));
    }
    var path = '/orgs/' + encodeURIComponent(org.orgId) + '/keys';
    return all(path, 'apiKeys', MAX_KEY_PAGES).then(function (keys) {
      return Object.assign({ keys: keys.items }, org);
    }, function (error) {
      if (error.status === 404) {
        return null;
      }
      throw error;
    });
  }

  function readOrgs() {
    return all('/orgs', 'orgs', MAX_ORG_PAGES).then(function (listed) {
      return Promise.all(listed.items.map(withKeys)).then(function (items) {
        var kept = items.filter(function (org) { return org !== null; });
        return { items: kept, total: listed.total - (items.length - kept.length) };
      });
    });
  }

  // Each panel is read and drawn on its own, so that a slow one (many
  // organizations) holds up no other. A refresh asked for while one runs
  // runs again as soon as it ends.
  var panels = {
    clock: { read: function () { return call('GET', '/clock'); }, show: showClock },
    orgs: { read: readOrgs, show: showOrgs },
    journal: {
      read: function () { return call('GET', '/requests?limit=' + JOURNAL_ROWS); },
      show: function (answer) { journal = answer.requests; showJournal(); }
    },
    faults: {
      read: function () { return call('GET', '/faults'); },
      show: function (answer) { showFaults(answer.faults); }
    }
  };

  function refreshPanel(name) {
    var panel = panels[name];
    if (panel.running) {
      panel.again = true;
      return panel.running;
    }
    panel.again = false;
    panel.running = panel.read().then(function (data) {
      if (token !== null) {
        panel.show(data);
        if (readFailure !== null && readFailure.panel === name) {
          say('');
        }
      }
    }, function (error) {
      if (token !== null) {
        say('Could not read the sandbox: ' + error.message);
        readFailure = { panel: name };
      }
    }).then(function () {
      panel.running = null;
      if (panel.again && token !== null) {
        return refreshPanel(name);
      }
    });
    return panel.running;
  }

  function refresh() {
    if (token === null || document.hidden) {
      return Promise.resolve();
    }
    return Promise.all(Object.keys(panels).map(refreshPanel));
  }

  // Runs a change, says how it went, and shows its effect at once.
  function act(promise, done) {
    return promise.then(function () {
      say(done);
      return refresh();
    }, function (error) {
      say(error.message);
    });
  }

  function connect() {
    byId('connect').hidden = true;
    byId('panels').hidden = false;
    shown = {};
    refresh();
    timer = window.setInterval(refresh, REFRESH_MS);
  }

  function disconnect(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    window.clearInterval(timer);
    byId('panels').hidden = true;
    byId('connect').hidden = false;
    byId('token').value = '';
    say(message);
    byId('token').focus();
  }

  byId('token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    token = byId('token').value.trim();
    byId('token').value = '';
    call('GET', '/clock').then(function () {
      sessionStorage.setItem(TOKEN_KEY, token);
      say('Connected.');
      connect();
    }, function (error) {
      if (token !== null) {
        token = null;
        say('Could not connect: ' + error.message);
      }
    });
  });
  // Only now can the form be sent the page's way; before, a press of
  // Enter would have nowhere to go.
  byId('token-submit').disabled = false;

  byId('forget').addEventListener('click', function () {
    disconnect('The token is forgotten.');
  });

  document.addEventListener('visibilitychange', function () {
    refresh();
  });

  byId('clock-freeze').addEventListener('click', function () {
    act(call('GET', '/clock').then(function (clock) {
      return call('PUT', '/clock', { frozenAt: clock.now });
    }), 'The clock is frozen.');
  });

  byId('advance-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var seconds = Number(byId('advance-by').value);
    act(call('PUT', '/clock', { advanceBySeconds: seconds }),
      'The clock moved ' + seconds + ' seconds forward.');
  });

  byId('clock-resume').addEventListener('click', function () {
    act(call('PUT', '/clock', { resume: true }), 'The clock runs.');
  });

  byId('journal-filter').addEventListener('input', showJournal);

  byId('fault-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var fault = { action: byId('fault-action').value };
    var operation = byId('fault-operation').value;
    var status = byId('fault-status').value;
    var delay = Number(byId('fault-delay').value || 0);
    var times = byId('fault-times').value;
    if (operation !== '') {
      fault.operationId = operation;
    }
    if (status !== '' && fault.action !== 'drop') {
      fault.status = Number(status);
    }
    if (delay > 0) {
      fault.delayMs = delay;
    }
    if (times !== '') {
      fault.times = Number(times);
    }
    act(call('POST', '/faults', fault), 'The fault is added.');
  });

  function askReset(open) {
    byId('reset-confirm').hidden = !open;
    byId('reset').setAttribute('aria-expanded', String(open));
    (open ? byId('reset-yes') : byId('reset')).focus();
  }

  byId('reset').addEventListener('click', function () { askReset(true); });
  byId('reset-no').addEventListener('click', function () { askReset(false); });
  byId('reset-confirm').addEventListener('keydown', function (event) {
    if (event.key === 'Escape') {
      askReset(false);
    }
  });
  byId('reset-yes').addEventListener('click', function () {
    askReset(false);
    act(call('POST', '/reset'), 'The sandbox is reset.');
  });

  if (token !== null) {
    connect();
  } else {
    byId('token').focus();
  }
})();

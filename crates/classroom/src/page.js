// The classroom page: seats, forms and the live views. Everything from the server is
// put in as text (textContent), never as markup; the one exception is the timeline,
// which the server draws and escapes itself.
'use strict';

const state = { token: null, roles: [], stream: null, round: 0, cards: new Map() };

function $(sel, root) { return (root || document).querySelector(sel); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function say(text, ok) {
  const m = $('#message');
  m.textContent = text;
  m.className = ok ? 'ok' : '';
}

async function post(url, body) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const j = await r.json().catch(() => ({ error: 'no answer from the classroom' }));
  if (!r.ok) throw new Error(j.error || String(r.status));
  return j;
}

async function act(role, action) {
  try {
    const j = await post('/api/act', { token: state.token, role, action });
    say(role + ': ' + j.ok, true);
  } catch (e) {
    say(role + ': ' + e.message, false);
  }
}

// ---- composing a message (players, and the broker writing in a party's name) ----

function messageFields() {
  const f = el('div', { class: 'fields' });
  f.append(
    el('label', {}, 'kind ', el('select', { name: 'kind' },
      el('option', { value: 'text', text: 'text' }),
      el('option', { value: 'assurance', text: 'assurance' }),
      el('option', { value: 'revocation', text: 'withdrawal of an assurance' }))),
    el('label', { class: 'f-text' }, 'text ', el('textarea', { name: 'text', rows: '2', maxlength: '500' })),
    el('label', { class: 'f-assurance f-revocation' }, 'assurance id ', el('input', { name: 'id', type: 'text', value: 'A-1', maxlength: '32' })),
    el('label', { class: 'f-assurance' }, 'commitment ', el('input', { name: 'commitment', type: 'text', maxlength: '500' })),
    el('label', { class: 'f-assurance' }, 'condition ', el('input', { name: 'condition', type: 'text', maxlength: '500' })),
    el('label', { class: 'f-assurance' }, 'valid for (seconds) ', el('input', { name: 'valid_for_s', type: 'number', value: '600', min: '1' })),
    el('label', { class: 'f-revocation' }, 'reason ', el('input', { name: 'reason', type: 'text', maxlength: '500' })));
  const kind = $('select[name=kind]', f);
  const show = () => {
    for (const label of f.querySelectorAll('label[class^="f-"]')) {
      label.hidden = !label.className.split(' ').includes('f-' + kind.value);
    }
  };
  kind.addEventListener('change', show);
  show();
  return f;
}

function composed(form) {
  const v = (name) => { const i = form.querySelector('[name=' + name + ']'); return i ? i.value : ''; };
  return {
    kind: v('kind'), text: v('text'), id: v('id'), commitment: v('commitment'),
    condition: v('condition'), reason: v('reason'), valid_for_s: Number(v('valid_for_s')) || 0,
  };
}

function options(select, names) {
  const keep = select.value;
  const now = Array.from(select.options).map((o) => o.value).join(',');
  if (now === names.join(',')) return;
  select.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
  if (names.includes(keep)) select.value = keep;
}

// ---- step mode: predicting the next step ----

function predictBox() {
  return el('div', { class: 'predict', hidden: '' },
    el('h3', { text: 'predict the next step' }), el('div', { class: 'question' }),
    el('p', { class: 'score' }), el('ul', { class: 'shown' }));
}

function shownSteps(steps) {
  return steps.map((s) => el('li', { class: 'step', 'data-step': String(s.step) },
    'step ' + s.step + ': ' + s.happened + (s.answer ? ' (answer: ' + s.answer + ')' : '')));
}

function renderPredict(role, seat, s) {
  const box = $('.predict', seat);
  if (!box) return;
  box.hidden = !(s && s.on);
  if (box.hidden) return;
  const q = $('.question', box);
  const p = s.pending;
  const key = p ? p.step + ':' + (p.asks || '') : 'none';
  if (q.dataset.key !== key) {
    q.dataset.key = key;
    if (!p) {
      q.replaceChildren(el('p', { class: 'waiting', text: 'the next step has not happened yet' }));
    } else if (!p.asks) {
      q.replaceChildren(el('p', { class: 'waiting', text: 'step ' + p.step + ' asks nothing: the instructor shows it next' }));
    } else {
      const buttons = p.choices.map((c) => {
        const b = el('button', { type: 'button', class: 'answer', 'data-answer': c.key, text: c.words });
        b.addEventListener('click', () => act(role, { type: 'predict', step: p.step, answer: c.key }));
        return b;
      });
      q.replaceChildren(el('p', { class: 'asks', text: 'step ' + p.step + ': ' + p.asks }), el('div', { class: 'answers' }, ...buttons));
    }
  }
  for (const b of q.querySelectorAll('button.answer')) {
    const chosen = b.dataset.answer === s.mine;
    b.classList.toggle('chosen', chosen);
    b.setAttribute('aria-pressed', chosen ? 'true' : 'false');
  }
  $('.score', box).textContent = 'your predictions: ' + s.score.right + ' right of ' + s.score.made;
  list($('.shown', box), shownSteps(s.steps.slice(0, 3)));
}

function renderStepping(seat, s) {
  const box = $('.stepping', seat);
  $('input.step-mode', box).checked = s.on;
  $('button.next-step', box).disabled = !s.ready;
  const p = s.pending;
  let line = 'step mode is off: the class sees everything as it happens';
  if (s.on) {
    if (!p) line = s.shown + ' step(s) shown; the next step has not happened yet';
    else if (!p.asks) line = 'next: step ' + p.step + ' (asks nothing)';
    else line = 'next: step ' + p.step + ': ' + p.asks + ' — predictions in: ' + (s.predicted.length ? s.predicted.join(', ') : 'none yet');
  }
  $('.pending', box).textContent = line;
  $('.predictions', box).replaceChildren(
    el('tr', {}, el('th', { text: 'seat' }), el('th', { text: 'right predictions' })),
    ...s.scores.map((c) => el('tr', { 'data-seat': c.seat }, el('td', { text: c.seat }), el('td', { class: 'right', text: c.right + ' of ' + c.made }))));
  list($('.shown', box), shownSteps(s.steps));
}

// ---- the seats ----

function partySeat(role) {
  const form = el('form', { class: 'compose' },
    el('label', {}, 'to ', el('select', { name: 'to' })), messageFields(),
    el('button', { type: 'submit', text: 'send' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(role, { type: 'send', to: $('select[name=to]', form).value, message: composed(form) });
  });
  return el('section', { class: 'seat party', id: 'seat-' + role },
    el('h2', { class: 'title', text: role }), el('p', { class: 'hint' }), predictBox(), form,
    el('h3', { text: 'your lines of the script' }), el('ul', { class: 'script' }),
    el('h3', { text: 'what you sent, and what you know of it' }), el('ul', { class: 'sent' }),
    el('h3', { text: 'what reached you, and your verdict' }), el('ul', { class: 'heard' }),
    el('h3', { text: 'warnings' }), el('ul', { class: 'notices' }),
    el('h3', { text: 'your assurance ledger' }), el('ul', { class: 'ledger' }),
    el('h3', { text: 'what you know of each side (from your own transcript)' }), el('ul', { class: 'knows' }));
}

function brokerSeat() {
  const write = el('form', { class: 'write' },
    el('label', {}, 'in the name of ', el('select', { name: 'from' })),
    el('label', {}, 'to ', el('select', { name: 'to' })), messageFields(),
    el('button', { type: 'submit', text: 'write it' }));
  write.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('broker', { type: 'write', from: $('select[name=from]', write).value, to: $('select[name=to]', write).value, message: composed(write) });
  });
  return el('section', { class: 'seat', id: 'seat-broker' },
    el('h2', { text: "the broker's desk" }),
    el('p', { class: 'hint' }), predictBox(),
    el('div', { class: 'cards' }),
    el('h3', { text: "write a message in a party's name" }), write,
    el('h3', { text: 'acknowledgements (receipts and heartbeats)' }), el('div', { class: 'withhold' }),
    el('p', { class: 'passed' }),
    el('h3', { text: 'what you did' }), el('ul', { class: 'moves' }));
}

function instructorSeat() {
  const end = el('button', { type: 'button', class: 'end', text: 'end round' });
  end.addEventListener('click', () => act('instructor', { type: 'end' }));
  const mode = el('select', { class: 'mode' });
  const again = el('button', { type: 'button', class: 'new-round', text: 'new round' });
  again.addEventListener('click', () => act('instructor', { type: 'new-round', mode: mode.value }));
  const stepMode = el('input', { type: 'checkbox', class: 'step-mode' });
  stepMode.addEventListener('change', () => act('instructor', { type: 'step-mode', on: stepMode.checked }));
  const next = el('button', { type: 'button', class: 'next-step', text: 'show the next step' });
  next.addEventListener('click', () => act('instructor', { type: 'next-step' }));
  return el('section', { class: 'seat', id: 'seat-instructor' },
    el('h2', { text: 'instructor' }),
    el('div', { class: 'controls' }, end, ' ', el('label', {}, 'next round in ', mode), ' ', again),
    el('div', { class: 'stepping' },
      el('h3', { text: 'step mode: the class predicts, then you show each step' }),
      el('div', { class: 'controls' }, el('label', {}, stepMode, ' step mode'), ' ', next),
      el('p', { class: 'pending' }),
      el('table', { class: 'predictions' }),
      el('ol', { class: 'shown', reversed: '' })),
    el('h3', { text: 'codes to hand out (each admits to what it says, nothing more)' }),
    el('ul', { class: 'codes' }),
    el('h3', { text: "scoreboard: the broker's moves, and who has noticed so far" }),
    el('table', { class: 'scoreboard' }),
    el('h3', { text: 'live timeline' }), el('div', { class: 'timeline' }));
}

function build(roles) {
  const seats = $('#seats');
  seats.replaceChildren();
  for (const r of roles) {
    if (r === 'alpha' || r === 'bravo' || r === 'third') seats.append(partySeat(r));
    if (r === 'broker') seats.append(brokerSeat());
    if (r === 'instructor') seats.append(instructorSeat());
  }
}

// ---- rendering a view ----

function list(ul, items) { ul.replaceChildren(...items); }

function words(m) {
  if (m.kind === 'assurance') return m.id + ': "' + m.body + '" if "' + (m.condition || '') + '"';
  if (m.kind === 'revocation') return 'withdraws ' + m.id + ' ("' + m.body + '")';
  return '"' + m.body + '"';
}

function renderParty(role, v) {
  const seat = $('#seat-' + role);
  if (!seat) return;
  $('.title', seat).textContent = v.name === role ? role : role + ' (plays ' + v.name + ')';
  $('.hint', seat).textContent = v.hint;
  renderPredict(role, seat, v.step);
  options($('select[name=to]', seat), v.peers);
  list($('.script', seat), v.script.map((line) => {
    const b = el('button', { type: 'button', text: line.said ? 'say it again' : 'say it' });
    b.addEventListener('click', () => act(role, { type: 'script', line: line.line }));
    return el('li', { class: line.said ? 'said' : '' }, b, ' to ' + line.to + ' (' + line.kind + '): ' + line.words);
  }));
  list($('.sent', seat), v.sent.map((m) => el('li', { class: m.status },
    '#' + m.seq + ' to ' + m.to + ' [' + m.kind + '] ' + words(m) + ' — ' + m.status_words)));
  list($('.heard', seat), v.heard.map((m) => {
    const ok = m.verdict === 'accepted';
    const verdict = ok
      ? 'accepted (' + ({ signature: 'signed by ', mac: "MAC'd by ", none: 'unsigned: on the broker\'s word that it is from ' }[m.attestation] || '') + m.from + ')'
      : 'REJECTED: ' + (m.detail || '') + ' [' + (m.reason || '') + ']';
    return el('li', { class: ok ? 'accepted' : 'rejected', 'data-reason': m.reason || '' },
      '#' + m.seq + ' from ' + m.from + ' [' + m.kind + '] ' + words(m) + ' — ' + verdict +
      (m.copies > 1 ? ' (' + m.copies + ' copies)' : ''));
  }));
  list($('.notices', seat), v.notices.map((n) => el('li', { class: 'missing', text: n })));
  const ledger = (v.ledger && v.ledger.assurances) || [];
  list($('.ledger', seat), ledger.length ? ledger.map((a) => el('li', { class: 'assurance', 'data-status': a.status },
    a.giver + ' to ' + a.recipient + ', ' + a.id + ': "' + a.commitment + '" if "' + a.condition + '" — ' + a.status)) : [el('li', { text: 'no assurance given or received' })]);
  const knows = v.knows || [];
  list($('.knows', seat), knows.length ? knows.map((line) => el('li', { text: line })) : [el('li', { text: 'nothing yet' })]);
}

function cardElement(c, parties) {
  const box = el('div', { class: 'card', 'data-card': String(c.card) });
  const head = el('div', {}, el('b', { text: 'card ' + c.card + ' ' }), el('span', { class: 'state' }), el('span', { class: 'copies' }),
    el('div', { class: 'deadline', 'data-expires-ms': String(c.expires_ms) }));
  const reading = el('div', { class: 'reading', text: c.reading });
  const buttons = el('div', { class: 'buttons' });
  for (const [choice, label] of [['forward', 'forward'], ['hold', 'hold'], ['drop', 'drop'], ['replay', 'replay again']]) {
    const b = el('button', { type: 'button', 'data-choice': choice, text: label });
    b.addEventListener('click', () => act('broker', { type: 'decide', card: c.card, choice }));
    buttons.append(b, ' ');
  }
  const edit = el('details', { class: 'edit' }, el('summary', { text: 'edit the words' }));
  const fields = c.kind === 'assurance' ? ['commitment', 'condition'] : c.kind === 'revocation' ? ['reason'] : ['text'];
  const current = {
    text: c.body,
    commitment: c.fields.assurance ? c.fields.assurance.commitment : '',
    condition: c.fields.assurance ? c.fields.assurance.condition : '',
    reason: c.fields.revocation ? c.fields.revocation.reason : '',
  };
  for (const f of fields) edit.append(el('label', {}, f + ' ', el('input', { type: 'text', name: f, value: current[f], maxlength: '500' })));
  const send = el('button', { type: 'button', 'data-choice': 'edit', text: 'pass it on, edited' });
  send.addEventListener('click', () => {
    const e = {};
    for (const f of fields) {
      const value = $('input[name=' + f + ']', edit).value;
      if (value !== current[f]) e[f] = value;
    }
    act('broker', { type: 'decide', card: c.card, choice: 'edit', edit: e });
  });
  edit.append(send);
  const to = el('select', { name: 'redirect-to' });
  // A third power first: delivering a message to its own sender is rarely the point.
  options(to, parties.filter((p) => p !== c.to && p !== c.from).concat(parties.filter((p) => p === c.from && p !== c.to)));
  const redirect = el('button', { type: 'button', 'data-choice': 'redirect', text: 'deliver it there instead' });
  redirect.addEventListener('click', () => act('broker', { type: 'decide', card: c.card, choice: 'redirect', to: to.value }));
  const copy = el('button', { type: 'button', 'data-choice': 'copy', text: 'pass it on and show them a copy' });
  copy.addEventListener('click', () => act('broker', { type: 'decide', card: c.card, choice: 'copy', to: to.value }));
  box.append(head, reading, buttons, edit, el('div', { class: 'redirect' }, 'to ', to, ': ', redirect, ' ', copy));
  return box;
}

function renderBroker(v) {
  const seat = $('#seat-broker');
  if (!seat) return;
  $('.hint', seat).textContent = v.hint;
  renderPredict('broker', seat, v.step);
  const cards = $('.cards', seat);
  if (!v.cards.length) cards.replaceChildren(el('p', { class: 'waiting', text: 'no message has reached the desk yet' }));
  for (const c of v.cards) {
    let box = state.cards.get(c.card);
    if (!box) {
      if (!state.cards.size) cards.replaceChildren();
      box = cardElement(c, v.parties);
      state.cards.set(c.card, box);
      cards.append(box);
    }
    $('.state', box).textContent = c.state;
    $('.deadline', box).hidden = !c.open;
    $('.copies', box).textContent = c.copies ? ' (' + c.copies + ' copies resent)' : '';
    box.classList.toggle('closed', !c.open);
    const delivered = !c.open && c.state !== 'dropped';
    for (const b of box.querySelectorAll('button[data-choice]')) {
      b.disabled = b.dataset.choice === 'replay' ? !delivered : !c.open;
    }
  }
  const write = $('form.write', seat);
  options($('select[name=from]', write), v.parties);
  options($('select[name=to]', write), v.parties);
  const withhold = $('.withhold', seat);
  const pairs = [];
  for (const from of v.parties.slice(0, 2)) for (const to of v.parties.slice(0, 2)) if (from !== to) pairs.push([from, to]);
  if (withhold.childElementCount !== pairs.length) {
    withhold.replaceChildren(...pairs.map(([from, to]) => {
      const box = el('input', { type: 'checkbox', 'data-from': from, 'data-to': to });
      box.addEventListener('change', () => act('broker', { type: 'withhold', from, to, on: box.checked }));
      return el('label', {}, box, ' withhold ' + from + "'s acknowledgements to " + to);
    }));
  }
  for (const box of withhold.querySelectorAll('input')) {
    box.checked = v.withheld.some(([f, t]) => f === box.dataset.from && t === box.dataset.to);
  }
  $('.passed', seat).textContent = v.control_passed + ' receipts and heartbeats read so far (they pass on by themselves unless withheld)' +
    (v.overflow ? '; ' + v.overflow + ' messages passed unseen: the desk was full' : '');
  list($('.moves', seat), v.moves.map((m) => el('li', { text: m.detail })));
}

function renderInstructor(v, whole) {
  const seat = $('#seat-instructor');
  if (!seat) return;
  options($('select.mode', seat), whole.modes);
  if (state.modeRound !== whole.round) {
    $('select.mode', seat).value = whole.next_mode;
    state.modeRound = whole.round;
  }
  $('button.end', seat).disabled = whole.ended;
  renderStepping(seat, v.step);
  if (v.codes) {
    const base = location.origin + location.pathname;
    list($('.codes', seat), [
      el('li', { text: 'join code for the class (one seat each): ' + v.codes.join }),
      ...v.codes.seats.map((c) => el('li', { text: 'the ' + c.seat + ' seat only: ' + base + '?code=' + c.code + '&seats=' + c.seat })),
    ]);
  }
  const rows = v.scoreboard.map((r) => el('tr', { class: r.unnoticed ? 'unnoticed' : '' },
    el('td', { text: r.detail }),
    ...r.checks.map((c) => el('td', { text: c.party + ': ' + (c.noticed ? 'noticed (' + c.how + ')' : 'did not notice') }))));
  $('.scoreboard', seat).replaceChildren(el('tr', {}, el('th', { text: "the broker's move" }), el('th', { text: 'the sender' }), el('th', { text: 'the recipient' })), ...rows);
  if (!rows.length) $('.scoreboard', seat).append(el('tr', {}, el('td', { text: 'no move yet: everything passed on as it came' })));
  $('.timeline', seat).innerHTML = v.timeline; // drawn and escaped by the server
}

function render(v) {
  if (v.round !== state.round) {
    state.round = v.round;
    state.cards.clear();
  }
  const scenario = v.scenario ? ' — scenario "' + v.scenario.title + '"' : '';
  $('#round-line').textContent = 'round ' + v.round + ', ' + v.mode + ' mode' + scenario + (v.ended ? ' (ended)' : '');
  document.body.dataset.mode = v.mode;
  document.body.dataset.round = String(v.round);
  const desk = $('#seat-broker h2');
  if (desk) desk.textContent = "the broker's desk" + (v.scenario ? ' (playing ' + v.scenario.broker + ')' : '');
  for (const [role, seat] of Object.entries(v.seats)) {
    if (role === 'alpha' || role === 'bravo' || role === 'third') renderParty(role, seat);
    if (role === 'broker') renderBroker(seat);
    if (role === 'instructor') renderInstructor(seat, v);
  }
  const ending = $('#ending');
  ending.hidden = !v.ending;
  if (v.ending) {
    // Each finding names its transcript's owner already.
    list($('#judged'), v.ending.judged.map((j) => el('li', { 'data-owner': j.owner, text: j.verdict })));
    $('#ending-timeline').innerHTML = v.ending.timeline; // drawn and escaped by the server
  }
}

// ---- joining ----

function listen() {
  if (state.stream) state.stream.close();
  const es = new EventSource('/api/stream?token=' + encodeURIComponent(state.token));
  es.addEventListener('view', (ev) => render(JSON.parse(ev.data)));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (a class restarted since, say): the seat must be taken again.
      sessionStorage.removeItem('backchannel-seat');
      $('#join').hidden = false;
      say('not joined: enter the join code again', false);
    } else {
      say('connection to the classroom lost; retrying...', false);
    }
  };
  es.onopen = () => say('connected', true);
  state.stream = es;
}

function seated(token, roles) {
  state.token = token;
  state.roles = roles;
  sessionStorage.setItem('backchannel-seat', JSON.stringify({ token, roles }));
  $('#join').hidden = true;
  build(roles);
  listen();
}

async function join(roles) {
  try {
    const j = await post('/api/join', { code: $('#code').value, roles });
    seated(j.token, j.roles);
  } catch (e) {
    say(e.message, false);
  }
}

// The seats under the names the class plays (a scenario's parties, its intermediary).
async function nameSeats() {
  try {
    const r = await fetch('/api/class');
    if (!r.ok) return;
    const c = await r.json();
    const label = { alpha: c.names.alpha, bravo: c.names.bravo, third: c.names.third + ' (the third power)', broker: c.broker + "'s desk (the intermediary)" };
    for (const b of document.querySelectorAll('button[data-join]')) {
      if (label[b.dataset.join]) b.textContent = label[b.dataset.join];
    }
  } catch (e) {
    // The buttons keep their seat names.
  }
}

document.addEventListener('DOMContentLoaded', () => {
  nameSeats();
  const code = new URLSearchParams(location.search).get('code');
  if (code) $('#code').value = code;
  for (const b of document.querySelectorAll('button[data-join]')) {
    b.addEventListener('click', () => join(b.dataset.join.split(',')));
  }
  // A link can name its seats (?code=...&seats=broker): a lecturer hands out one
  // link per student.
  const seats = new URLSearchParams(location.search).get('seats');
  const kept = sessionStorage.getItem('backchannel-seat');
  if (seats && code) {
    join(seats.split(','));
  } else if (kept) {
    try {
      const { token, roles } = JSON.parse(kept);
      seated(token, roles);
    } catch (e) {
      sessionStorage.removeItem('backchannel-seat');
    }
  }
});

// The deadline of each open card, counting down: the desk can plan "hold it past its
// deadline" (the recipient refuses it then, and says why).
function tickDeadlines() {
  for (const d of document.querySelectorAll('.card .deadline')) {
    const left = Math.round((Number(d.dataset.expiresMs) - Date.now()) / 1000);
    d.textContent = left > 0
      ? 'its deadline: in ' + (left >= 120 ? Math.round(left / 60) + ' min' : left + ' s') + ' (held past it, the recipient refuses it as expired)'
      : 'its deadline has passed: the recipient will refuse it as expired';
  }
}
setInterval(tickDeadlines, 1000);

// Schema-strict OCPP CSMS (1.6J, 2.0.1 or 2.1) for the integration tests.
// Usage: node strict_csms.js [port]   (port 0 or absent: any free port; PORT env also works)
// AUTH_STATUS env: the idTagInfo (2.x: idTokenInfo) status of every Authorize and
// StartTransaction (2.x: TransactionEvent Started) answer (default Accepted; e.g. Invalid for
// a CSMS that refuses every id tag).
// UPDATED_STATUS env (2.x): an idTokenInfo status given in every answer to a TransactionEvent
// Updated (default: none given).
// CALL_ERRORS env: JSON {"<Action>" or "<Action>/<eventType>": N}: the first N such CALLs are
// answered with a CALLERROR (InternalError) instead (each still printed as a call first).
// TOTAL_COST env (2.x): the totalCost of every answer to a TransactionEvent Ended (the CSMS's
// final cost of the transaction); absent: none.
// AUTHORIZE_TARIFF env (2.1): a TariffType (JSON) every accepted Authorize answer carries, the
// driver's tariff.
// TX_LIMIT env (2.1): a TransactionLimitType (JSON) the answer to every TransactionEvent
// Started carries, the CSMS's limit of the transaction.
// CLOCK_OFFSET_S env: the CSMS's clock runs this many seconds ahead of the machine's (negative:
// behind); its currentTime says so.
// GROUP_IDS env: JSON {"<idToken>": "<group>"}: the group an Authorize answer gives that token
// (2.x: groupIdToken, type Central; 1.6: parentIdTag).
// STREAM_STATUS env (2.1): the status of every answer to OpenPeriodicEventStream (default
// Accepted).
// PROTOCOLS env: the subprotocols served, comma-separated, in preference order (default
// ocpp1.6).
// stdin: one JSON object per line, {"identity":..,"action":..,"params":{..}}: a CALL sent to
// that charge point; its answer is printed as {"event":"answer",..} or {"event":"error",..}.
// stdout: one JSON object per line:
//   {"event":"listening","port":N}
//   {"event":"call","identity":..,"action":..,"params":{..}}        every valid CALL received
//   {"event":"invalid","identity":..,"action":..,"error":"..."}     any schema validation failure
//   {"event":"connect"|"disconnect","identity":..}
//   {"event":"send","identity":..,"action":..,"params":{..}}        every valid 2.1 SEND received
// ocpp-rpc 2.2.1 knows no SEND (message type 6): this peer checks each against its schema
// itself, and the library still answers it with a CALLERROR MessageTypeNotSupported, as the
// OCPP-J extension fallback says for an unknown message type.
'use strict';
const { RPCServer, createValidator, createRPCError } = require('ocpp-rpc');

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const authStatus = process.env.AUTH_STATUS || 'Accepted';
const updatedStatus = process.env.UPDATED_STATUS || '';
let nextTransactionId = 1;
const callErrors = JSON.parse(process.env.CALL_ERRORS || '{}');
const totalCost = process.env.TOTAL_COST ? Number(process.env.TOTAL_COST) : undefined;
const authorizeTariff = process.env.AUTHORIZE_TARIFF
    ? JSON.parse(process.env.AUTHORIZE_TARIFF) : undefined;
const streamStatus = process.env.STREAM_STATUS || 'Accepted';
const groupIds = JSON.parse(process.env.GROUP_IDS || '{}');
const tokenInfo = (token, withGroup) => {
    const group = groupIds[token];
    if (group === undefined) return { status: authStatus };
    return withGroup(group);
};
const txLimit = process.env.TX_LIMIT ? JSON.parse(process.env.TX_LIMIT) : undefined;
const clockOffsetMs = Number(process.env.CLOCK_OFFSET_S || 0) * 1000;
// Actions this CSMS does not know (answered NotImplemented), e.g. a 1.6 CSMS without the
// security extension.
const unknownActions = (process.env.UNKNOWN_ACTIONS || '').split(',').filter(Boolean);

function failing(action, params) {
    for (const key of [action, `${action}/${params && params.eventType}`]) {
        if (callErrors[key] > 0) {
            callErrors[key] -= 1;
            return true;
        }
    }
    return false;
}

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

const protocols = (process.env.PROTOCOLS || 'ocpp1.6').split(',');
// The package's 2.1 schema set names its schemas "urn:<Action>Request"/"Response", but its
// strict mode looks them up as "urn:<Action>.req"/".conf" (as for 1.6 and 2.0.1): the same
// official schemas, renamed to what it looks up.
const schemas21 = require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => ({
    ...schema,
    $id: schema.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf'),
}));
const validator21 = createValidator('ocpp2.1', schemas21);
const server = new RPCServer({
    protocols, strictMode: true, maxBadMessages: Infinity,
    strictModeValidators: [validator21],
});

// A 2.1 SEND ([6, id, action, payload]), checked against its schema ("urn:<Action>" in the
// package's set: a SEND has no request/response pair).
function takeSend(identity, message) {
    let frame;
    try { frame = JSON.parse(String(message)); } catch (err) { return; }
    if (!Array.isArray(frame) || frame[0] !== 6) return;
    const [, , action, params] = frame;
    try {
        validator21.validate(`urn:${action}`, params);
        emit({ event: 'send', identity, action, params });
    } catch (err) {
        emit({ event: 'invalid', identity, action, outbound: false,
               error: String(err && err.message), params });
    }
}
const clients = new Map();

server.auth((accept, reject, handshake) => accept({ identity: handshake.identity }));

server.on('client', (client) => {
    const identity = client.identity;
    emit({ event: 'connect', identity, protocol: client.protocol });
    clients.set(identity, client);
    client.on('strictValidationFailure', (ev) => {
        emit({ event: 'invalid', identity, action: ev.method, outbound: ev.outbound,
               error: String(ev.error && ev.error.message), params: ev.params });
    });
    client.on('close', () => emit({ event: 'disconnect', identity }));
    if (client.protocol === 'ocpp2.1') {
        client.on('message', ({ message, outbound }) => { if (!outbound) takeSend(identity, message); });
    }
    const now = () => new Date(Date.now() + clockOffsetMs).toISOString();
    const record = (action) => ({ params }) => {
        emit({ event: 'call', identity, action, params });
        switch (action) {
            case 'BootNotification': return { status: 'Accepted', currentTime: now(), interval: 300 };
            case 'Heartbeat': return { currentTime: now() };
            case 'Authorize':
                return { idTagInfo: tokenInfo(params.idTag,
                    (g) => ({ status: authStatus, parentIdTag: g })) };
            case 'StartTransaction':
                return { transactionId: nextTransactionId++, idTagInfo: { status: authStatus } };
            case 'StopTransaction': return { idTagInfo: { status: 'Accepted' } };
            case 'DataTransfer': return { status: 'UnknownVendorId' };
            case 'SignCertificate': return { status: 'Accepted' };
            default: return {};
        }
    };
    const record2 = (action) => ({ params }) => {
        emit({ event: 'call', identity, action, params });
        if (failing(action, params)) throw createRPCError('InternalError', 'refused for the test');
        switch (action) {
            case 'BootNotification': return { status: 'Accepted', currentTime: now(), interval: 300 };
            case 'Heartbeat': return { currentTime: now() };
            case 'Authorize':
            {
                const idTokenInfo = tokenInfo(params.idToken.idToken, (g) => ({
                    status: authStatus, groupIdToken: { idToken: g, type: 'Central' } }));
                if (authorizeTariff && authStatus === 'Accepted' && client.protocol === 'ocpp2.1') {
                    return { idTokenInfo, tariff: authorizeTariff };
                }
                return { idTokenInfo };
            }
            case 'TransactionEvent':
                if (params.eventType === 'Started') {
                    const answer = { idTokenInfo: { status: authStatus } };
                    if (txLimit && client.protocol === 'ocpp2.1') answer.transactionLimit = txLimit;
                    return answer;
                }
                if (params.eventType === 'Ended' && totalCost !== undefined) return { totalCost };
                return params.eventType === 'Updated' && updatedStatus
                    ? { idTokenInfo: { status: updatedStatus } } : {};
            case 'DataTransfer': return { status: 'UnknownVendorId' };
            case 'SignCertificate': return { status: 'Accepted' };
            case 'OpenPeriodicEventStream': return { status: streamStatus };
            default: return {};
        }
    };
    if (client.protocol === 'ocpp1.6') {
        for (const action of ['BootNotification', 'Heartbeat', 'StatusNotification', 'Authorize',
            'StartTransaction', 'StopTransaction', 'MeterValues', 'DataTransfer',
            'FirmwareStatusNotification', 'DiagnosticsStatusNotification', 'SignCertificate',
            'LogStatusNotification', 'SecurityEventNotification']) {
            if (!unknownActions.includes(action)) client.handle(action, record(action));
        }
    } else {
        for (const action of ['BootNotification', 'Heartbeat', 'StatusNotification', 'Authorize',
            'TransactionEvent', 'MeterValues', 'DataTransfer', 'NotifyEvent', 'NotifyReport',
            'SecurityEventNotification', 'FirmwareStatusNotification', 'LogStatusNotification',
            'ReportChargingProfiles', 'ReservationStatusUpdate', 'NotifyDisplayMessages',
            'NotifySettlement', 'SignCertificate']) {
            client.handle(action, record2(action));
        }
        if (client.protocol === 'ocpp2.1') {
            for (const action of ['OpenPeriodicEventStream', 'ClosePeriodicEventStream']) {
                client.handle(action, record2(action));
            }
        }
    }
});

let input = '';
process.stdin.on('data', (chunk) => {
    input += chunk;
    let end;
    while ((end = input.indexOf('\n')) >= 0) {
        const line = input.slice(0, end);
        input = input.slice(end + 1);
        if (!line.trim()) continue;
        const { identity, action, params } = JSON.parse(line);
        const client = clients.get(identity);
        if (!client) { emit({ event: 'error', identity, action, error: 'not connected' }); continue; }
        client.call(action, params).then(
            (result) => emit({ event: 'answer', identity, action, result }),
            (err) => emit({ event: 'error', identity, action, error: String(err && err.message),
                            code: err && err.rpcErrorCode }));
    }
});

server.listen(port, '127.0.0.1').then((http) => {
    emit({ event: 'listening', port: http.address().port });
});

process.on('SIGTERM', () => { server.close({ code: 1001 }).finally(() => process.exit(0)); });

// Schema-strict OCPP 1.6J CSMS for the integration tests.
// Usage: node strict_csms.js [port]   (port 0 or absent: any free port; PORT env also works)
// AUTH_STATUS env: the idTagInfo status of every Authorize and StartTransaction answer
// (default Accepted; e.g. Invalid for a CSMS that refuses every id tag).
// stdout: one JSON object per line:
//   {"event":"listening","port":N}
//   {"event":"call","identity":..,"action":..,"params":{..}}        every valid CALL received
//   {"event":"invalid","identity":..,"action":..,"error":"..."}     any schema validation failure
//   {"event":"connect"|"disconnect","identity":..}
'use strict';
const { RPCServer } = require('ocpp-rpc');

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const authStatus = process.env.AUTH_STATUS || 'Accepted';
let nextTransactionId = 1;

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, maxBadMessages: Infinity });

server.auth((accept, reject, handshake) => accept({ identity: handshake.identity }));

server.on('client', (client) => {
    const identity = client.identity;
    emit({ event: 'connect', identity });
    client.on('strictValidationFailure', (ev) => {
        emit({ event: 'invalid', identity, action: ev.method, outbound: ev.outbound,
               error: String(ev.error && ev.error.message), params: ev.params });
    });
    client.on('close', () => emit({ event: 'disconnect', identity }));
    const now = () => new Date().toISOString();
    const record = (action) => ({ params }) => {
        emit({ event: 'call', identity, action, params });
        switch (action) {
            case 'BootNotification': return { status: 'Accepted', currentTime: now(), interval: 300 };
            case 'Heartbeat': return { currentTime: now() };
            case 'Authorize': return { idTagInfo: { status: authStatus } };
            case 'StartTransaction':
                return { transactionId: nextTransactionId++, idTagInfo: { status: authStatus } };
            case 'StopTransaction': return { idTagInfo: { status: 'Accepted' } };
            case 'DataTransfer': return { status: 'UnknownVendorId' };
            default: return {};
        }
    };
    for (const action of ['BootNotification', 'Heartbeat', 'StatusNotification', 'Authorize',
        'StartTransaction', 'StopTransaction', 'MeterValues', 'DataTransfer',
        'FirmwareStatusNotification', 'DiagnosticsStatusNotification']) {
        client.handle(action, record(action));
    }
});

server.listen(port, '127.0.0.1').then((http) => {
    emit({ event: 'listening', port: http.address().port });
});

process.on('SIGTERM', () => { server.close({ code: 1001 }).finally(() => process.exit(0)); });

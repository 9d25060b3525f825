// node's cluster module for tests/test_record_servers.py: node cluster.js PORT [none|rr].
// SCHED_NONE: the primary creates the listening socket and sends it to each worker over the IPC
// channel (SCM_RIGHTS); every worker listens and accepts on it. SCHED_RR: the primary accepts and
// sends each connection to a worker. Two workers answer `ok` to every HTTP request.
const cluster = require('node:cluster');
const http = require('node:http');
const port = Number(process.argv[2]);
cluster.schedulingPolicy = process.argv[3] === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
if (cluster.isPrimary) {
  for (let i = 0; i < 2; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const id in cluster.workers) cluster.workers[id].kill();
    process.exit(0);
  });
} else {
  http.createServer((req, res) => res.end('ok\n')).listen(port, '127.0.0.1');
}

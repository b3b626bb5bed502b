// A Node.js function beside seed 000's: reports the address its traffic leaves from, and what
// it runs on, so a test sees that it ran in its subnet through the fabric.
exports.handler = async (event, context) => {
  const response = await fetch(process.env.IP_SERVICE_URL || "https://ifconfig.me/ip", {
    signal: AbortSignal.timeout(3000),
  });
  const ip = (await response.text()).trim();
  console.log(`node probe: egress ${ip}`);
  return {
    ip,
    node: process.version,
    uid: process.getuid(),
    memory: context.memoryLimitInMB,
    remainingMs: context.getRemainingTimeInMillis(),
    task: process.env.LAMBDA_TASK_ROOT,
  };
};

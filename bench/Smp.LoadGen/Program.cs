using Smp.LoadGen;

// Load generator and scenario timer for the server, the agent and agent groups (docs/performance.md).
// Loopback only; every loop is bounded by a message count and a duration.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("""
        usage: smp-loadgen <scenario> [options]

        scenarios
          server-load      N sender/recipient pairs, SEND -> MSG -> ACK per queue (pre-signed transmissions)
                             --pairs 100 --duration 15 --warmup 3 --messages 0 (0: no count bound)
                             --body-size 3584 --key-bits 2048 --server host:port#keyHash (loopback only)
                             --server-pid PID (with --server: the relay's own CPU per message)
                             --reference-keys (public exponents of 1025 bits, as simplexmq 0.3.1 makes them)
          server-memory    bytes per idle queue on an in-process server
                             --queues 100000 --secure true --key-bits 1024 --window 32
          agent-setup      NEW -> both CON between two agents, one connection at a time
                             --connections 20 --key-bits 2048 --key-pool 8 --warm true (wait for full pools before each)
          agent-messages   messages/s and latency through duplex connections between two agents
                             --connections 1 --messages 200 --window 16 --key-bits 2048 --duration 60
          agent-tcp        two agents over their TCP client protocol, one connection: a burst of SENDs written
                           at once (msg/s), then one at a time (latency), CPU per message of this process
                             --messages 300 --one-at-a-time 100 --warmup 20 --window 32 --key-bits 2048
                             --server host:port#keyHash (an external relay, so its CPU is not counted)
          agent-memory     bytes per idle duplex connection (both agents in one process)
                             --connections 30 --key-bits 2048
          group            n-th member to GALL and group messages/s, one agent per member
                             --members 5 --messages 4 (per member) --servers 2 --key-bits 2048 --key-pool 8 --warm true
          group-sim        randomized group schedules (groups.md §12): passed/failed, failing seeds, failures by invariant
                             --schedules 10 --seed 1 (first) --full false (true: concurrent adds, full message invariant)
                             --agents 6 --servers 2 --steps 10 --key-bits 1024 --settle-timeout 90 --settle-quiet 15
                             --concurrent-adds --full-messages --restarts --outages --leaves --removals --rejects (true/false)
                             --verbose false (every round and settle) --schedules-verbose false (passed ones in full too)
                             --trace-failures false (a failed schedule's rounds and agents' Debug log) --hang-after 600 (s)
        """);
    return 0;
}

var options = new Options(args.Skip(1));
var scenario = args[0];
using var stop = new CancellationTokenSource(options.Time("timeout", TimeSpan.FromMinutes(15)));
Console.WriteLine($"# {scenario} {string.Join(' ', args.Skip(1))}");
Console.WriteLine($"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}, server GC {System.Runtime.GCSettings.IsServerGC}, load average {LoadAverage()}");
try
{
    switch (scenario)
    {
        case "server-load":
            await ServerLoad.RunAsync(options, stop.Token);
            break;
        case "server-memory":
            await ServerMemory.RunAsync(options, stop.Token);
            break;
        case "agent-setup":
            await AgentScenarios.SetupAsync(options, stop.Token);
            break;
        case "agent-messages":
            await AgentScenarios.MessagesAsync(options, stop.Token);
            break;
        case "agent-tcp":
            await AgentTcpScenario.RunAsync(options, stop.Token);
            break;
        case "agent-memory":
            await AgentScenarios.MemoryAsync(options, stop.Token);
            break;
        case "group":
            await GroupScenario.RunAsync(options, stop.Token);
            break;
        case "group-sim":
            var simExit = await GroupSimScenario.RunAsync(options, stop.Token);
            options.ThrowIfUnused();
            return simExit;
        default:
            Console.Error.WriteLine($"unknown scenario {scenario}; --help lists them");
            return 2;
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("stopped: the scenario ran past --timeout");
    return 1;
}
options.ThrowIfUnused();
return 0;

// The machine may be shared: every figure is reported with the load it was taken under.
static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

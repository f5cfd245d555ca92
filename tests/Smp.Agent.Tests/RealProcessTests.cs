using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using Smp.Agent.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>The `smp` executable as users run it: server, agents and the demo as separate processes.</summary>
public sealed class RealProcessTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-process-tests-");
    private readonly List<Process> _processes = [];
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static string SmpDll()
    {
        var dll = typeof(RealProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SmpCliDll").Value!;
        Assert.True(File.Exists(dll), $"build Smp.Cli first: {dll}");
        return dll;
    }

    private readonly Dictionary<Process, StringBuilder> _stderr = [];

    private Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(SmpDll());
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var err = new StringBuilder();
        lock (_stderr) _stderr[p] = err;
        p.ErrorDataReceived += (_, e) =>
        {
            lock (err) err.AppendLine(e.Data);
        };
        p.BeginErrorReadLine();
        _processes.Add(p);
        return p;
    }

    private string Stderr(Process p)
    {
        var err = _stderr[p];
        lock (err) return err.ToString();
    }

    /// <summary>SIGTERM, as a service manager stops a process.</summary>
    private static async Task TerminateAsync(Process p)
    {
        using var kill = Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(Wait);
        await p.WaitForExitAsync(cts.Token);
    }

    private static async Task<string> LineStartingWithAsync(Process p, string prefix)
    {
        using var cts = new CancellationTokenSource(Wait);
        while (true)
        {
            var line = await p.StandardOutput.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException($"exited before printing '{prefix}'");
            var at = line.IndexOf(prefix, StringComparison.Ordinal);
            if (at >= 0) return line[(at + prefix.Length)..];
        }
    }

    private async Task<SmpServerAddress> StartServerAsync() =>
        SmpServerAddress.Parse(await LineStartingWithAsync(
            Start("server", "--port", "0", "--data", Path.Combine(_dir.FullName, "server"), "--bind", "127.0.0.1", "--host", "127.0.0.1", "--log-level", "warning"),
            "listening on "));

    private async Task<(Process Process, int Port)> StartAgentAsync(string name, SmpServerAddress server)
    {
        var p = Start("agent", "--port", "0", "--server", server.ToString(),
            "--db", Path.Combine(_dir.FullName, name + ".db"), "--key-bits", "1024", "--log-level", "warning");
        return (p, int.Parse(await LineStartingWithAsync(p, "listening on port "), CultureInfo.InvariantCulture));
    }

    private static async Task<AgentTransmission> ExpectAsync(AgentTcpClient c, string alias, string prefix) =>
        await c.ExpectAsync(t => t.Alias == alias && Encoding.UTF8.GetString(AgentWire.Payload(t.CommandOrError)).StartsWith(prefix, StringComparison.Ordinal), Wait);

    [Fact]
    public async Task Two_agent_processes_connect_through_a_server_process_and_survive_a_kill_9()
    {
        var server = await StartServerAsync();
        var (_, alicePort) = await StartAgentAsync("alice", server);
        var (bobProcess, bobPort) = await StartAgentAsync("bob", server);
        await using var alice = await AgentTcpClient.ConnectAsync("127.0.0.1", alicePort);
        var bob = await AgentTcpClient.ConnectAsync("127.0.0.1", bobPort);
        var inv = (AgentCommand.Inv)(await alice.RequestAsync("bob", new AgentCommand.New(), Wait)).Command!;
        await bob.SendAsync("1", "alice", new AgentCommand.Join(inv.QueueInfo));
        await ExpectAsync(bob, "alice", "CON");
        await ExpectAsync(alice, "bob", "CON");

        // Bob's agent dies hard; Alice's messages wait on the relay; Bob's agent comes back on its database.
        bobProcess.Kill(entireProcessTree: true);
        await bobProcess.WaitForExitAsync();
        await bob.DisposeAsync();
        for (var i = 1; i <= 3; i++)
        {
            await alice.SendAsync($"s{i}", "bob", new AgentCommand.Send(Encoding.ASCII.GetBytes($"m{i}")));
            await ExpectAsync(alice, "bob", "SENT");
        }
        var (_, bobPortAgain) = await StartAgentAsync("bob", server);
        await using var bobAgain = await AgentTcpClient.ConnectAsync("127.0.0.1", bobPortAgain);
        await bobAgain.SendAsync("2", "", new AgentCommand.SubAll());
        for (var i = 1; i <= 3; i++)
        {
            var msg = (AgentCommand.Msg)(await ExpectAsync(bobAgain, "alice", "MSG OK")).Command!;
            Assert.Equal($"m{i}", Encoding.ASCII.GetString(msg.Body.Span));
        }
    }

    [Fact]
    public async Task A_sending_agent_killed_9_in_the_middle_of_a_window_loses_nothing_and_delivers_nothing_twice()
    {
        var server = await StartServerAsync();
        var (aliceProcess, alicePort) = await StartAgentAsync("alice", server);
        var (_, bobPort) = await StartAgentAsync("bob", server);
        var alice = await AgentTcpClient.ConnectAsync("127.0.0.1", alicePort);
        await using var bob = await AgentTcpClient.ConnectAsync("127.0.0.1", bobPort);
        var inv = (AgentCommand.Inv)(await alice.RequestAsync("bob", new AgentCommand.New(), Wait)).Command!;
        await bob.SendAsync("1", "alice", new AgentCommand.Join(inv.QueueInfo));
        await ExpectAsync(bob, "alice", "CON");
        await ExpectAsync(alice, "bob", "CON");

        // 100 SENDs written at once; Alice's agent dies hard once a few are confirmed, the rest stored,
        // in flight or not yet read. Every SEND it confirmed must arrive; what it stored goes after restart.
        const int n = 100;
        for (var i = 1; i <= n; i++) await alice.SendAsync($"s{i}", "bob", new AgentCommand.Send(Encoding.ASCII.GetBytes($"m{i}")));
        var confirmed = 0;
        while (confirmed < 5)
        {
            await ExpectAsync(alice, "bob", "SENT");
            confirmed++;
        }
        aliceProcess.Kill(entireProcessTree: true);
        await aliceProcess.WaitForExitAsync();
        await alice.DisposeAsync();

        var (_, alicePortAgain) = await StartAgentAsync("alice", server);
        await using var aliceAgain = await AgentTcpClient.ConnectAsync("127.0.0.1", alicePortAgain);
        await aliceAgain.SendAsync("2", "", new AgentCommand.SubAll());
        await aliceAgain.SendAsync("end", "bob", new AgentCommand.Send("end"u8.ToArray()));
        var bodies = new List<string>();
        while (true)
        {
            var t = await ExpectAsync(bob, "alice", "MSG");
            var msg = (AgentCommand.Msg)t.Command!;
            Assert.StartsWith("MSG OK", Encoding.UTF8.GetString(AgentWire.Payload(t.CommandOrError)));
            var body = Encoding.ASCII.GetString(msg.Body.Span);
            if (body == "end") break;
            bodies.Add(body);
        }
        // In order and once: m1..mk with no gap and no repeat, and at least what was confirmed before the kill.
        Assert.InRange(bodies.Count, confirmed, n);
        Assert.Equal(Enumerable.Range(1, bodies.Count).Select(i => $"m{i}"), bodies);
    }

    [Fact]
    public async Task An_agent_told_to_stop_after_a_client_left_with_unread_answers_exits_cleanly()
    {
        // Found by a fault test: a client that wrote many commands and closed without reading left the
        // agent writing to a broken pipe, and SIGTERM then ended it with an unhandled IOException.
        var server = await StartServerAsync();
        var (agent, port) = await StartAgentAsync("alice", server);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync("127.0.0.1", port);
            var stream = tcp.GetStream();
            var commands = new StringBuilder();
            for (var i = 0; i < 500; i++) commands.Append(CultureInfo.InvariantCulture, $"{i}\r\nnobody\r\nSEND :x\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(commands.ToString()));
            // Unread data makes the close a reset: the agent's next writes fail with a broken pipe.
            tcp.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }
        // The agent still works for a new client: it has answered the old one's commands.
        await using (var probe = await AgentTcpClient.ConnectAsync("127.0.0.1", port))
        {
            var reply = await probe.RequestAsync("nobody", new AgentCommand.Send("x"u8.ToArray()), Wait);
            Assert.Equal("ERR CONN UNKNOWN", Encoding.UTF8.GetString(AgentWire.Payload(reply.Command!)));
        }
        await TerminateAsync(agent);
        Assert.True(agent.ExitCode == 0, $"exit code {agent.ExitCode}: {Stderr(agent)}");
        Assert.DoesNotContain("Unhandled exception", Stderr(agent), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_runs_every_step_and_exits_zero()
    {
        var demo = Start("demo", "--quiet", "--no-color", "--key-bits", "1024");
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var output = await demo.StandardOutput.ReadToEndAsync(cts.Token);
        await demo.WaitForExitAsync(cts.Token);
        Assert.True(demo.ExitCode == 0, output);
        Assert.Contains("Every step happened", output);
    }

    [Fact]
    public async Task The_devices_demo_runs_every_step_and_exits_zero()
    {
        var demo = Start("demo", "devices", "--quiet", "--no-color", "--key-bits", "1024");
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var output = await demo.StandardOutput.ReadToEndAsync(cts.Token);
        await demo.WaitForExitAsync(cts.Token);
        Assert.True(demo.ExitCode == 0, output);
        Assert.Contains("the three profiles are the same", output);
    }

    [Fact]
    public async Task An_agent_without_a_server_refuses_to_start_with_a_usage_error()
    {
        var p = Start("agent", "--port", "0");
        using var cts = new CancellationTokenSource(Wait);
        await p.WaitForExitAsync(cts.Token);
        Assert.NotEqual(0, p.ExitCode);
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

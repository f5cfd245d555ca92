using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reflection;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;
using Smp.Server.Persistence;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>The real <c>smp server</c> as operators run it: the data directory lock, the key refusal and the metrics endpoint.</summary>
public sealed class ServerProcessTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly string _dir = TestServer.NewDataDirectory();
    private readonly List<CliServer> _processes = [];

    /// <summary>One <c>smp server</c> process, its stdout read line by line and its stderr collected.</summary>
    private sealed class CliServer : IDisposable
    {
        private readonly ConcurrentQueue<string> _stderr = new();
        private readonly TaskCompletionSource _stderrDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CliServer(params string[] args)
        {
            var dll = typeof(ServerProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SmpCliDll").Value!;
            Assert.True(File.Exists(dll), $"build Smp.Cli first: {dll}");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            psi.ArgumentList.Add("server");
            foreach (var a in args) psi.ArgumentList.Add(a);
            Process = Process.Start(psi)!;
            Process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) _stderrDone.TrySetResult();
                else _stderr.Enqueue(e.Data);
            };
            Process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string? MetricsLine { get; private set; }

        /// <summary>Reads stdout up to the address line; the metrics line, if any, comes before it.</summary>
        public async Task<SmpServerAddress> AddressAsync()
        {
            using var cts = new CancellationTokenSource(Wait);
            while (true)
            {
                var line = await Process.StandardOutput.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException("smp server exited before listening: " + string.Join(" | ", _stderr));
                const string prefix = "SMP server listening on ";
                if (line.StartsWith("metrics on ", StringComparison.Ordinal)) MetricsLine = line;
                if (line.StartsWith(prefix, StringComparison.Ordinal)) return SmpServerAddress.Parse(line[prefix.Length..]);
            }
        }

        /// <summary>Waits for the process to exit by itself; returns its stdout and stderr lines.</summary>
        public async Task<(string Stdout, string[] Stderr)> ExitedAsync()
        {
            using var cts = new CancellationTokenSource(Wait);
            var stdout = await Process.StandardOutput.ReadToEndAsync(cts.Token);
            await Process.WaitForExitAsync(cts.Token);
            await _stderrDone.Task.WaitAsync(cts.Token);
            return (stdout, [.. _stderr.Where(l => l.Length > 0)]);
        }

        public void Dispose()
        {
            try
            {
                if (!Process.HasExited) Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
            Process.Dispose();
        }
    }

    private CliServer Start(params string[] extra)
    {
        var p = new CliServer(["--port", "0", "--data", _dir, "--bind", "127.0.0.1", "--host", "127.0.0.1", "--log-level", "warning", .. extra]);
        _processes.Add(p);
        return p;
    }

    private static async Task KillAsync(CliServer p)
    {
        p.Process.Kill(entireProcessTree: true);
        await p.Process.WaitForExitAsync();
    }

    [Fact]
    public async Task A_second_server_process_on_the_same_data_directory_exits_at_once_naming_the_directory_and_the_holder()
    {
        var first = Start();
        var address = await first.AddressAsync();
        byte[] rid, sid;
        await using (var c = await TestClient.ConnectAsync(address))
        {
            (rid, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("one")));
        }
        var storeLog = await File.ReadAllBytesAsync(Path.Combine(_dir, QueueStore.StoreLogName));

        var second = Start();
        var (stdout, stderr) = await second.ExitedAsync();
        Assert.NotEqual(0, second.Process.ExitCode);
        Assert.DoesNotContain("listening", stdout, StringComparison.Ordinal);
        var line = Assert.Single(stderr);
        Assert.StartsWith("smp server: ", line, StringComparison.Ordinal);
        Assert.Contains(_dir, line, StringComparison.Ordinal);
        Assert.Contains($"process {first.Process.Id.ToString(CultureInfo.InvariantCulture)}", line, StringComparison.Ordinal);

        // The first server's files are as it left them, and it goes on serving.
        Assert.Equal(storeLog, await File.ReadAllBytesAsync(Path.Combine(_dir, QueueStore.StoreLogName)));
        await using (var c = await TestClient.ConnectAsync(address))
        {
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("two")));
            Assert.Equal("one", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid, SmpCommand.SubCommand)));
            Assert.Equal("two", BodyOf(await c.RequestAsync(TestKeys.Recipient, rid, SmpCommand.AckCommand)));
        }

        // Killed, it leaves no lock behind: the operating system dropped it with the process.
        await KillAsync(first);
        var third = Start();
        Assert.Equal(address.KeyHash, (await third.AddressAsync()).KeyHash);
    }

    [Fact]
    public async Task A_server_process_whose_key_is_missing_beside_its_store_refuses_until_given_new_key()
    {
        var first = Start();
        var address = await first.AddressAsync();
        await using (var c = await TestClient.ConnectAsync(address)) await c.CreateQueueAsync(TestKeys.Recipient);
        await KillAsync(first);
        var keyPath = Path.Combine(_dir, ServerKeyFile.FileName);
        File.Delete(keyPath);

        var refused = Start();
        var (stdout, stderr) = await refused.ExitedAsync();
        Assert.NotEqual(0, refused.Process.ExitCode);
        Assert.DoesNotContain("listening", stdout, StringComparison.Ordinal);
        var line = Assert.Single(stderr);
        Assert.Contains(keyPath, line, StringComparison.Ordinal);
        Assert.Contains("--new-key", line, StringComparison.Ordinal);
        Assert.False(File.Exists(keyPath));

        var renewed = Start("--new-key");
        var newAddress = await renewed.AddressAsync();
        Assert.NotEqual(address.KeyHash, newAddress.KeyHash);
    }

    [Fact]
    public async Task The_metrics_endpoint_serves_prometheus_text_whose_counters_move_and_a_health_check()
    {
        var server = Start("--metrics", "127.0.0.1:0");
        var address = await server.AddressAsync();
        // "metrics on http://127.0.0.1:P/metrics, health on http://127.0.0.1:P/health"
        var parts = server.MetricsLine!["metrics on ".Length..].Split(", health on ");
        var metrics = new Uri(parts[0]);
        var health = new Uri(parts[1]);
        Assert.Equal("/metrics", metrics.AbsolutePath);
        Assert.NotEqual(0, metrics.Port);

        using var http = new HttpClient { Timeout = Wait };
        var ok = await http.GetAsync(health);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("ok", (await ok.Content.ReadAsStringAsync()).Trim());

        var before = await http.GetStringAsync(metrics);
        Assert.Equal(0, Value(before, "smp_server_messages_in_total"));
        foreach (var name in new[] { "smp_server_connections", "smp_server_queues", "smp_server_messages_stored", "smp_server_messages_out_total",
                     "smp_server_messages_expired_total", "smp_server_handshake_failures_total", "smp_server_journal_size_bytes" })
            Assert.Contains(name, before, StringComparison.Ordinal);

        await using (var c = await TestClient.ConnectAsync(address))
        {
            var (_, sid) = await c.CreateQueueAsync(TestKeys.Recipient);
            Assert.IsType<SmpCommand.Ok>(await c.CommandAsync(null, sid, Send("counted")));
            var after = await http.GetStringAsync(metrics);
            Assert.Equal(1, Value(after, "smp_server_messages_in_total"));
            Assert.Equal(1, Value(after, "smp_server_queues"));
            Assert.True(Value(after, "smp_server_journal_size_bytes") > 0);
        }
    }

    /// <summary>The value of the one sample of a metric in Prometheus text format.</summary>
    private static double Value(string exposition, string name)
    {
        var line = Assert.Single(exposition.Split('\n'), l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal));
        var value = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
        return double.Parse(value, CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

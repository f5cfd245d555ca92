using System.Diagnostics;
using System.Net;
using Smp.Agent.Client;
using Smp.Agent.Tests;

namespace Smp.Cli.Tests;

/// <summary>The real <c>smp client</c> process with its standard streams redirected, as a script would run it.</summary>
public sealed class ClientProcessTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private AgentListener? _listener;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_listener is not null) await _listener.DisposeAsync();
        await _h.DisposeAsync();
    }

    [Fact]
    public async Task Smp_client_with_redirected_output_prints_no_colour_and_ends_at_the_end_of_input()
    {
        var server = await _h.StartServerAsync();
        _listener = AgentListener.Start(await _h.StartAgentAsync("a", server), IPAddress.Loopback, 0);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "smp.dll"), "client", "--agent", $"127.0.0.1:{_listener.Port}" })
            start.ArgumentList.Add(a);
        start.Environment.Remove("NO_COLOR");
        using var process = Process.Start(start)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            // Input first, all at once: the client must still wait for its connection before sending.
            await process.StandardInput.WriteLineAsync("/invite bob");
            await process.StandardInput.WriteLineAsync("@nobody hi");
            await process.StandardInput.WriteLineAsync("/bogus");
            process.StandardInput.Close();
            await process.WaitForExitAsync().WaitAsync(TestSupport.Patience);
            var output = await stdout;
            Assert.Equal(0, process.ExitCode);
            Assert.DoesNotContain('\e', output);
            Assert.Contains("! unknown command /bogus", output, StringComparison.Ordinal);
            Assert.Contains("* invitation for bob", output, StringComparison.Ordinal);
            Assert.Contains("! message to nobody: no such contact (CONN UNKNOWN)", output, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}

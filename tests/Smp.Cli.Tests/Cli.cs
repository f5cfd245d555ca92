using System.Diagnostics;
using System.Text;
using Smp.Agent.Tests;

namespace Smp.Cli.Tests;

/// <summary>Runs <c>smp</c> in this process (for parsing and start-up errors) or as a real process.</summary>
internal static class Cli
{
    public sealed record Outcome(int ExitCode, string Output, string Error)
    {
        public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        /// <summary>What every failure must look like: plain lines, no stack trace, no .NET type name.</summary>
        public void AssertPlain()
        {
            foreach (var text in new[] { Output, Error })
            {
                Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
                Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
                Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
            }
        }
    }

    /// <summary>A valid-looking server address (nothing listens there) for commands that fail before connecting.</summary>
    public const string Relay = "127.0.0.1:9#AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    public static async Task<Outcome> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, environment ?? new Dictionary<string, string>(), output, error).WaitAsync(TestSupport.Patience);
        return new Outcome(code, output.ToString(), error.ToString());
    }

    public static Task<Outcome> RunAsync(params string[] args) => RunAsync(null, args);

    public static string SmpDll => Path.Combine(AppContext.BaseDirectory, "smp.dll");

    /// <summary><c>dotnet smp.dll args</c> with redirected streams; no SMP_ variable of this process leaks in.</summary>
    public static Process Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(SmpDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("SMP_", StringComparison.Ordinal)).ToList()) start.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>Runs a process that is expected to end by itself.</summary>
    public static async Task<Outcome> RunProcessAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(environment, args);
        try
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            return new Outcome(process.ExitCode, await output, await error);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The rest of the first stdout line containing <paramref name="marker"/>; fails if the process ends first.</summary>
    public static async Task<string> LineAfterAsync(Process process, string marker)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                       ?? throw new InvalidOperationException($"exited before printing '{marker}': {await process.StandardError.ReadToEndAsync(timeout.Token)}");
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) return line[(at + marker.Length)..];
        }
    }

    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
    }
}

using System.CommandLine;

namespace Smp.Cli;

/// <summary>The <c>smp</c> tool: one subcommand per role, each built by its own static class.</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("SimpleX Messaging Protocol (SMP 0.3) tools")
        {
            ServerCommand.Create(),
            AgentHostCommand.Create(),
            ClientCommand.Create(),
            Demo.DemoCommand.Create(),
        };
        // Graceful shutdown on SIGTERM/Ctrl-C: the action's token is cancelled; give it time to close the files.
        var config = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
        return await root.Parse(args).InvokeAsync(config).ConfigureAwait(false);
    }
}

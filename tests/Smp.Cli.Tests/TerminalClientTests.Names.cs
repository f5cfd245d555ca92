namespace Smp.Cli.Tests;

/// <summary>Who is who typed at the terminal (docs/client.md): /name, names shown, /rename.</summary>
public sealed partial class TerminalClientTests
{
    [Fact]
    public async Task Members_are_shown_by_the_names_they_give_and_the_ones_we_give_them()
    {
        var server = await _h.StartServerAsync();
        var alice = await TerminalAsync(Listen(await _h.StartAgentAsync("a", server)).Port, "alice");
        var bob = await TerminalAsync(Listen(await _h.StartAgentAsync("b", server)).Port, "bob");
        await ConnectAsync(alice, bob);

        await alice.TypeAsync("/name Alice L.");
        await alice.ExpectAsync("* groups you create or join from now on know you as \"Alice L.\"");
        await alice.TypeAsync("/group team The Team");
        await alice.ExpectAsync("* created group team");
        await alice.TypeAsync("/add team bob");
        var how = await bob.ExpectAsync(l => l.StartsWith("  /join ", StringComparison.Ordinal), "the /join hint");
        await bob.TypeAsync("/name Bob");
        await bob.TypeAsync($"/join {how.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]} team");
        await alice.ExpectAsync("* bob in team is \"Bob\"");
        await bob.ExpectAsync("* alice in team is \"Alice L.\"");

        await bob.TypeAsync("#team hi");
        await alice.ExpectAsync("[team] Bob: hi");
        await alice.TypeAsync("/rename bob Robert");
        await alice.ExpectAsync("* bob is shown as \"Robert\" here (only you see this name)");
        await bob.TypeAsync("#team again");
        await alice.ExpectAsync("[team] Robert: again");
        await alice.TypeAsync("/members team");
        await alice.ExpectAsync("  + Robert (bob)  connected");

        await bob.TypeAsync("/leave team");
        await alice.ExpectAsync("* Robert left team");
        await alice.TypeAsync("/members team");
        await alice.ExpectAsync("  - Robert (bob)  left, no longer a member");
        await alice.ExpectAsync("* team has no other members (1 left or removed)");
    }
}

using System.Text;
using Xunit.Sdk;

namespace Smp.Agent.Tests;

/// <summary>The expectation helper itself: skipping what it does not wait for must not hide a bug.</summary>
public sealed class TestHelperTests
{
    private static AgentOutput Output(string alias, string text, long eventId = 0, string corrId = "") =>
        new(corrId, alias, Encoding.UTF8.GetBytes(text)) { EventId = eventId };

    private static ClientSession SessionWith(params AgentOutput[] outputs)
    {
        var session = new ClientSession("test");
        foreach (var o in outputs) session.Send(o);
        return session;
    }

    [Fact]
    public async Task An_error_skipped_while_waiting_for_something_else_fails_the_test()
    {
        var session = SessionWith(Output("bob", "ERR AGENT A_PROHIBITED", 1), Output("bob", "CON", 2));

        var e = await Assert.ThrowsAsync<FailException>(() => session.ExpectAsync("bob", "CON"));

        Assert.Contains("ERR AGENT A_PROHIBITED", e.Message);
    }

    [Fact]
    public async Task An_error_waited_for_is_returned()
    {
        var session = SessionWith(Output("bob", "ERR CONN UNKNOWN", corrId: "1"));

        var o = await session.ExpectAsync("bob", "ERR CONN");

        Assert.Equal("1", o.CorrId);
    }

    [Fact]
    public async Task A_stored_event_given_twice_fails_the_test_even_when_skipped()
    {
        var session = SessionWith(Output("bob", "SENT 1", 7), Output("bob", "SENT 1", 7), Output("bob", "CON", 8));

        var e = await Assert.ThrowsAsync<FailException>(() => session.ExpectAsync("bob", "CON"));

        Assert.Contains("given twice", e.Message);
    }

    [Fact]
    public async Task The_same_notification_twice_fails_the_test_even_when_it_matches()
    {
        var session = SessionWith(Output("g", "GCON bob", 1), Output("g", "GCON bob", 2));
        await session.ExpectAsync("g", "GCON");

        var e = await Assert.ThrowsAsync<FailException>(() => session.ExpectAsync("g", "GCON"));

        Assert.Contains("given twice", e.Message);
    }

    [Fact]
    public async Task Notifications_that_may_recur_do_not_fail_the_test()
    {
        var session = SessionWith(Output("bob", "DOWN 127.0.0.1:1"), Output("bob", "UP 127.0.0.1:1"), Output("bob", "DOWN 127.0.0.1:1"),
            Output("bob", "UP 127.0.0.1:1"), Output("bob", "END"), Output("bob", "END"), Output("bob", "CON", 3));

        await session.ExpectAsync("bob", "CON");
    }

    [Fact]
    public async Task Waiting_in_vain_times_out_naming_what_was_skipped()
    {
        var session = SessionWith(Output("bob", "CON", 1));

        var e = await Assert.ThrowsAsync<TimeoutException>(() => session.ExpectAsync(o => o.Text().StartsWith("MSG", StringComparison.Ordinal), patience: TimeSpan.FromMilliseconds(200)));

        Assert.Contains("bob: CON", e.Message);
    }
}

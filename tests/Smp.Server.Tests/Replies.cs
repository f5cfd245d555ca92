using System.Text;
using Smp.Protocol.Smp;

namespace Smp.Server.Tests;

/// <summary>Short forms for what the tests send and inspect.</summary>
internal static class Replies
{
    public static SmpCommand.Send Send(string body) => new(Encoding.ASCII.GetBytes(body));

    public static SmpErrorCode? ErrorOf(SmpCommand c) => c is SmpCommand.Err e ? e.Error : null;

    public static SmpErrorCode? ErrorOf(SmpTransmission t) => t.Command is { } c ? ErrorOf(c) : null;

    public static string BodyOf(SmpTransmission t) => Encoding.ASCII.GetString(Assert.IsType<SmpCommand.Msg>(t.Command).Body.Span);
}

using Microsoft.Extensions.Logging;

namespace Smp.Cli;

/// <summary>A <c>--log-level</c> value; shown in help as it is typed ("information", not the enum's "Information").</summary>
internal readonly record struct CliLogLevel(LogLevel Level, string Name)
{
    public override string ToString() => Name;
}

"""The simulated world that emulated sensors measure.

Every value is a pure function of ``(seed, sensor key, time)``: randomness
comes from hashing those, never from a shared generator, so results do not
depend on call order or on which thread asks, and a World needs no lock.

Temperature = per-key base + daily cycle + weather drift + measurement noise.
Humidity follows the noise-free temperature at constant absolute humidity
(so it falls as the air warms), plus its own slow drift and noise.
Pressure is sea-level pressure with slow weather drift (one device shares one
sky, so it does not depend on the sensor), reduced to the board's altitude
by the international barometric formula, plus measurement noise.
Motion is a few short seeded events per hour. Pulses (rain gauge tips,
anemometer closures) come in seeded windows: showers, or a drifting wind.
"""

from __future__ import annotations

import hashlib
import math

__all__ = ["DHT_SIGMA", "SHT3X_HUMIDITY_SIGMA_RH", "SHT3X_TEMPERATURE_SIGMA_C", "World"]

SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600
# Daily cycle: coldest just before dawn, warmest mid-afternoon. The rise
# (10 h) is shorter than the fall (14 h), as in real diurnal curves.
COLDEST_HOUR = 5.0
WARMEST_HOUR = 15.0
# Per-key base temperature: indoor rooms to a warm greenhouse.
BASE_TEMPERATURE_C = (18.0, 26.0)
# Half the day's peak-to-peak swing, per key.
DAILY_AMPLITUDE_C = (2.0, 4.0)
# Weather: value noise with knots every 20 min (short-term wobble) and every
# 6 h (fronts); smooth interpolation keeps consecutive readings close.
WEATHER_KNOT_S = 20 * 60
WEATHER_SIGMA_C = 0.5
FRONT_KNOT_S = 6 * SECONDS_PER_HOUR
FRONT_SIGMA_C = 1.0
# Per-key relative humidity at the base temperature.
BASE_HUMIDITY_RH = (40.0, 65.0)
HUMIDITY_KNOT_S = 2 * SECONDS_PER_HOUR
HUMIDITY_DRIFT_SIGMA_RH = 3.0
MIN_RH, MAX_RH = 0.0, 100.0
# Magnus formula coefficients over water (Sonntag 1990), for saturation pressure.
MAGNUS_B = 17.62
MAGNUS_C_C = 243.12
# Measurement noise at datasheet accuracy (Sensirion SHT3x: typical ±0.2 °C and
# ±2 %RH accuracy; taken as roughly 2 σ).
SHT3X_TEMPERATURE_SIGMA_C = 0.1
SHT3X_HUMIDITY_SIGMA_RH = 1.0
# Pressure: mean sea-level pressure (ISA), weather systems drifting over days
# (sigma ~10 hPa, knots every 12 h) and a short-term wobble (knots every hour).
SEA_LEVEL_HPA = 1013.25
PRESSURE_FRONT_KNOT_S = 12 * SECONDS_PER_HOUR
PRESSURE_FRONT_SIGMA_HPA = 10.0
PRESSURE_WOBBLE_KNOT_S = SECONDS_PER_HOUR
PRESSURE_WOBBLE_SIGMA_HPA = 0.5
# Bosch BME280/BMP280: relative accuracy ±0.12 hPa, taken as roughly 2 σ.
PRESSURE_SIGMA_HPA = 0.06
# International barometric formula (ICAO standard atmosphere, troposphere).
ISA_LAPSE_K_PER_M = 0.0065
ISA_SEA_LEVEL_K = 288.15
ISA_EXPONENT = 5.255
# The pressure is the same for every sensor of a device: one key.
_SKY = "\x00sky"
# Motion: each 1-minute window holds an event with probability 5 % (about three
# per hour), starting anywhere in the window and lasting 5-30 s. Events are
# shorter than a window, so a time only needs its own and the previous window.
MOTION_WINDOW_S = 60
MOTION_EVENT_PROBABILITY = 0.05
MOTION_DURATION_S = (5.0, 30.0)
# Aosong AM2302 accuracy ±0.5 °C / ±2 %RH, DHT11 ±2 °C / ±5 %RH, taken as roughly 2 σ.
DHT_SIGMA = {"dht22": (0.25, 1.0), "dht11": (1.0, 2.5)}  # (°C, %RH)
# Pulses (rain gauge tips, anemometer closures) are evenly spaced within a window, with a
# seeded count and phase per window, so counts over adjacent spans add up exactly.
# Rain: 10-minute windows; 10 % of them showery at 5-60 tips an hour (0.2794 mm a tip: 1.4-17 mm/h).
RAIN_WINDOW_S = 600
RAIN_SHOWER_PROBABILITY = 0.1
RAIN_TIPS_PER_HOUR = (5.0, 60.0)
# Wind: 1-minute windows of a pulse rate drifting around 3 Hz (2.4 km/h per Hz: about 7 km/h).
WIND_WINDOW_S = 60
WIND_MEAN_HZ = 3.0
WIND_SIGMA_HZ = 1.5
WIND_KNOT_S = 10 * 60
# A longer span (the first reading after a long gap) counts only its last day of pulses.
MAX_PULSE_SPAN_S = SECONDS_PER_DAY
PULSE_KINDS = ("rain", "wind")
# Noise is drawn per millisecond timestamp: one reading, one draw.
_NOISE_TICKS_PER_S = 1000
_UNIT_BITS = 53  # a double's mantissa: uniform floats in [0, 1)


def _smoothstep(fraction: float) -> float:
    # C1-continuous easing between knots: no kinks in the drift curve.
    return fraction * fraction * (3.0 - 2.0 * fraction)


def _saturation_hpa(temperature_c: float) -> float:
    return 6.112 * math.exp(MAGNUS_B * temperature_c / (MAGNUS_C_C + temperature_c))


class World:
    """A seedable, deterministic, thread-safe simulated environment.

    *utc_offset_s* shifts the daily cycle to local time (wall times are UTC);
    it is a parameter rather than read from the system so results stay pure.
    """

    def __init__(self, seed: int = 0, *, utc_offset_s: float = 0.0, altitude_m: float = 0.0) -> None:
        self._seed = seed
        self._hash_key = str(seed).encode()
        self._utc_offset_s = utc_offset_s
        self.altitude_m = altitude_m

    @property
    def seed(self) -> int:
        return self._seed

    def __repr__(self) -> str:
        return (f"World(seed={self._seed!r}, utc_offset_s={self._utc_offset_s!r}, "
                f"altitude_m={self.altitude_m!r})")

    # --- seeded primitives ---------------------------------------------------

    def _uniform(self, key: str, stream: str, index: int) -> float:
        """A uniform float in [0, 1) fixed by (seed, key, stream, index)."""
        message = f"{stream}\x1f{index}\x1f{key}".encode()
        digest = hashlib.blake2b(message, digest_size=8, key=self._hash_key).digest()
        return (int.from_bytes(digest, "big") >> (64 - _UNIT_BITS)) / (1 << _UNIT_BITS)

    def _gauss(self, key: str, stream: str, index: int) -> float:
        """A standard normal draw fixed by its arguments (Box-Muller)."""
        u1 = 1.0 - self._uniform(key, stream + ".r", index)  # (0, 1]: log is finite
        u2 = self._uniform(key, stream + ".a", index)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def _between(self, key: str, stream: str, bounds: tuple[float, float]) -> float:
        low, high = bounds
        return low + (high - low) * self._uniform(key, stream, 0)

    def _value_noise(self, key: str, stream: str, wall_s: float, knot_s: float) -> float:
        """Smooth standard-normal-ish drift: seeded knots, eased in between."""
        position = wall_s / knot_s
        knot = math.floor(position)
        left = self._gauss(key, stream, knot)
        right = self._gauss(key, stream, knot + 1)
        return left + (right - left) * _smoothstep(position - knot)

    def _reading_noise(self, key: str, stream: str, wall_s: float) -> float:
        return self._gauss(key, stream, round(wall_s * _NOISE_TICKS_PER_S))

    # --- the world -----------------------------------------------------------

    def daily_shape(self, wall_s: float) -> float:
        """-1 at COLDEST_HOUR, +1 at WARMEST_HOUR, smooth in between."""
        hour = ((wall_s + self._utc_offset_s) % SECONDS_PER_DAY) / SECONDS_PER_HOUR
        rise_h = WARMEST_HOUR - COLDEST_HOUR
        if COLDEST_HOUR <= hour < WARMEST_HOUR:
            return -math.cos(math.pi * (hour - COLDEST_HOUR) / rise_h)
        fall_h = 24.0 - rise_h
        return math.cos(math.pi * ((hour - WARMEST_HOUR) % 24.0) / fall_h)

    def true_temperature_c(self, key: str, wall_s: float) -> float:
        """The air temperature at sensor *key*, before measurement noise."""
        base = self._between(key, "temperature.base", BASE_TEMPERATURE_C)
        amplitude = self._between(key, "temperature.amplitude", DAILY_AMPLITUDE_C)
        weather = WEATHER_SIGMA_C * self._value_noise(
            key, "weather", wall_s, WEATHER_KNOT_S
        ) + FRONT_SIGMA_C * self._value_noise(key, "front", wall_s, FRONT_KNOT_S)
        return base + amplitude * self.daily_shape(wall_s) + weather

    def temperature_c(
        self, key: str, wall_s: float, *, noise_c: float = SHT3X_TEMPERATURE_SIGMA_C
    ) -> float:
        """What a sensor *key* reads at *wall_s*: true temperature + N(0, noise_c²)."""
        noise = noise_c * self._reading_noise(key, "temperature.noise", wall_s)
        return self.true_temperature_c(key, wall_s) + noise

    def true_humidity_rh(self, key: str, wall_s: float) -> float:
        """Relative humidity at *key* before noise, clamped to 0..100 %RH."""
        base_c = self._between(key, "temperature.base", BASE_TEMPERATURE_C)
        base_rh = self._between(key, "humidity.base", BASE_HUMIDITY_RH)
        # Same water content in warmer air is a lower relative humidity.
        ratio = _saturation_hpa(base_c) / _saturation_hpa(self.true_temperature_c(key, wall_s))
        drift = HUMIDITY_DRIFT_SIGMA_RH * self._value_noise(
            key, "humidity.drift", wall_s, HUMIDITY_KNOT_S
        )
        return min(MAX_RH, max(MIN_RH, base_rh * ratio + drift))

    def humidity_rh(
        self, key: str, wall_s: float, *, noise_rh: float = SHT3X_HUMIDITY_SIGMA_RH
    ) -> float:
        """What sensor *key* reads at *wall_s*, kept within 0..100 %RH."""
        noise = noise_rh * self._reading_noise(key, "humidity.noise", wall_s)
        return min(MAX_RH, max(MIN_RH, self.true_humidity_rh(key, wall_s) + noise))

    def true_pressure_hpa(self, wall_s: float) -> float:
        """Station pressure at the board's altitude, before noise (the same for every sensor)."""
        sea_level = (
            SEA_LEVEL_HPA
            + PRESSURE_FRONT_SIGMA_HPA * self._value_noise(_SKY, "pressure.front", wall_s, PRESSURE_FRONT_KNOT_S)
            + PRESSURE_WOBBLE_SIGMA_HPA * self._value_noise(_SKY, "pressure.wobble", wall_s, PRESSURE_WOBBLE_KNOT_S)
        )
        return sea_level * (1.0 - ISA_LAPSE_K_PER_M * self.altitude_m / ISA_SEA_LEVEL_K) ** ISA_EXPONENT

    def pressure_hpa(self, key: str, wall_s: float, *, noise_hpa: float = PRESSURE_SIGMA_HPA) -> float:
        """What pressure sensor *key* reads at *wall_s*."""
        return self.true_pressure_hpa(wall_s) + noise_hpa * self._reading_noise(key, "pressure.noise", wall_s)

    def _window_pulses(self, key: str, kind: str, window: int) -> tuple[int, float]:
        """(pulse count, phase in [0, 1)) of one window."""
        if kind == "rain":
            width = RAIN_WINDOW_S
            if self._uniform(key, "rain.shower", window) >= RAIN_SHOWER_PROBABILITY:
                return 0, 0.0
            low, high = RAIN_TIPS_PER_HOUR
            per_hour = low + (high - low) * self._uniform(key, "rain.intensity", window)
            mean = per_hour * width / SECONDS_PER_HOUR
        else:
            width = WIND_WINDOW_S
            middle = (window + 0.5) * width
            hz = WIND_MEAN_HZ + WIND_SIGMA_HZ * self._value_noise(key, "wind.speed", middle, WIND_KNOT_S)
            mean = max(0.0, hz) * width
        count = math.floor(mean + self._uniform(key, f"{kind}.round", window))
        return count, self._uniform(key, f"{kind}.phase", window)

    def pulses(self, key: str, start_s: float, end_s: float, *, kind: str = "rain") -> int:
        """How many pulses counter *key* sees in ``[start_s, end_s)`` (wall seconds): rain tips or wind."""
        if kind not in PULSE_KINDS:
            raise KeyError(f"the simulated world has no pulse kind {kind!r}")
        if end_s <= start_s:
            return 0
        start_s = max(start_s, end_s - MAX_PULSE_SPAN_S)
        width = RAIN_WINDOW_S if kind == "rain" else WIND_WINDOW_S
        total = 0
        for window in range(math.floor(start_s / width), math.floor(end_s / width) + 1):
            count, phase = self._window_pulses(key, kind, window)
            if count == 0:
                continue
            origin, spacing = window * width, width / count
            # Pulse i is at origin + (i + phase) * spacing; count those in [start_s, end_s).
            first = max(0, math.ceil((start_s - origin) / spacing - phase))
            last = min(count - 1, math.ceil((end_s - origin) / spacing - phase) - 1)
            total += max(0, last - first + 1)
        return total

    def value(self, quantity: str, key: str, wall_s: float) -> float | bool:
        """What sensor *key* measures of *quantity*: the table the simulated twins are driven from."""
        if quantity == "temperature":
            return self.temperature_c(key, wall_s)
        if quantity == "humidity":
            return self.humidity_rh(key, wall_s)
        if quantity == "pressure":
            return self.pressure_hpa(key, wall_s)
        if quantity == "motion":
            return self.motion(key, wall_s)
        raise KeyError(f"the simulated world has no quantity {quantity!r}")

    def motion(self, key: str, wall_s: float) -> bool:
        """Whether motion sensor *key* sees movement at *wall_s*."""
        window = math.floor(wall_s / MOTION_WINDOW_S)
        for candidate in (window, window - 1):
            if self._uniform(key, "motion.event", candidate) >= MOTION_EVENT_PROBABILITY:
                continue
            start = (candidate + self._uniform(key, "motion.start", candidate)) * MOTION_WINDOW_S
            duration = MOTION_DURATION_S[0] + (
                MOTION_DURATION_S[1] - MOTION_DURATION_S[0]
            ) * self._uniform(key, "motion.duration", candidate)
            if start <= wall_s < start + duration:
                return True
        return False

"""The DSO: LV grid model, prognosis per congestion point, congestion price posting."""
